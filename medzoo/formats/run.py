"""A run folder's typed files (docs/contracts.md "Runs"): written by ``medzoo.search``, read by the zoo.

Why typed: a run folder travels between people (a shared bucket, a copied
folder) and two parts read it (the search on resume, the zoo on publish). Each
file is read here once, validated field by field, and handed on as a frozen
record, so a corrupt or hostile file is one error naming the file and the
field. ``results.parquet`` is read by :func:`read_results`, which turns a
truncated or foreign table into the same kind of error.

    RUN/run.json                 RunInfo       what was searched, how, on what
    RUN/trials/<id>/trial.json   TrialRecord   the resolved trial config + what rebuilds its model
    RUN/best.json                BestTrial     the trial chosen on validation, with its test metrics
    RUN/pareto.json              ParetoFront   multi-objective runs: the non-dominated trials
    RUN/vote.json                VoteResult    multi-sequence runs: the per-sequence best, voted on test
    RUN/crossval.json            CrossvalResult the chosen configuration re-trained on K folds, per protocol
    RUN/results.parquet          read_results  one row per trial
"""

from __future__ import annotations

import dataclasses
import io
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from medzoo.errors import FormatError, StorageError
from medzoo.formats._base import Record
from medzoo.storage import Location, location

if TYPE_CHECKING:
    import pandas as pd

RESULTS_FILE = "results.parquet"
#: a results table is one row per trial; refuse anything far larger before decoding it
MAX_RESULTS_BYTES = 256 << 20
RESULTS_COLUMNS = ("trial_id", "status")


# -- run.json -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunBudget:
    time_budget_s: float | None = None
    samples: int
    epochs: int
    limit: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RunResources:
    cpus_per_trial: float
    gpus_per_trial: float = 0.0
    workers_per_trial: int = 1


@dataclass(frozen=True, kw_only=True)
class RunInfo(Record):
    """``run.json``: the sweep's spec as recorded when it started (resume rebuilds the sweep from it)."""

    FILENAME: ClassVar[str] = "run.json"

    dataset: str
    prepared: str  # the prepared set (absolute path or URI) the trials opened
    recipe: str | None = None  # a built-in recipe id ...
    space_file: str | None = None  # ... or the user's space file (exactly one of the two)
    space: dict[str, Any]
    point: dict[str, Any] = field(default_factory=dict)
    scheduler: Literal["asha", "pbt", "fifo"]
    search: Literal["optuna", "random"]
    objectives: tuple[str, ...] = ("val_metric",)
    samples: int
    budget: RunBudget
    resources: RunResources
    max_failures: int = 2
    max_concurrent: int | None = None
    test_top_k: int = 3
    seed: int = 0
    resamples: int = 1000
    smoke: bool = False
    started: str
    finished: str | None = None
    primary_metric: str
    mode: Literal["max"] = "max"
    ray_version: str | None = None
    study: str | None = None  # the Optuna study's name in the run's journal storage (Optuna searches)

    def __post_init__(self) -> None:
        if (self.recipe is None) == (self.space_file is None):
            raise ValueError(
                f"exactly one of recipe and space_file must be set, got {self.recipe!r} and {self.space_file!r}"
            )


# -- trials/<id>/trial.json -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TrialRecord(Record):
    """``trials/<id>/trial.json``: the resolved configuration and what rebuilds the trained model.

    ``create_model(record.family, pretrained=False, **record.model_kwargs())`` (medzoo.zoo)
    builds the module whose weights are ``model.safetensors``: ``model_args`` are exactly the
    keyword arguments the model reported (``model.medzoo["model_args"]``), so no reader
    re-derives them from the training configuration.
    """

    FILENAME: ClassVar[str] = "trial.json"

    # the training configuration (medzoo.search.config.TrialConfig, every field; required, so the
    # record never invents a default the trial did not use)
    family: str
    head: str | None
    pretrained: bool
    dropout: float
    freeze: int
    hidden: tuple[int, ...] | None
    image_size: int
    augment: str
    augment_strength: float
    balance: str
    loss: str
    label_smoothing: float
    focal_gamma: float
    pos_weight: bool
    optimizer: str
    lr: float
    head_lr_mult: float
    weight_decay: float
    momentum: float
    schedule: str
    plateau_factor: float
    plateau_patience: int
    step_size: int
    step_gamma: float
    warmup_epochs: int
    epochs: int
    batch_size: int
    early_stop_patience: int | None
    early_stop_metric: str
    min_delta: float
    sequence: str | None
    seed: int
    num_workers: int
    # the data and the model
    dataset: str
    task: Literal["binary", "multiclass", "multilabel"]
    classes: tuple[str, ...]
    num_classes: int
    primary_metric: str
    model_args: dict[str, Any] = field(default_factory=dict)
    cam_layer: str | None = None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    pretrained_cfg: dict[str, Any] = field(default_factory=dict)
    resumed_at_epochs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.num_classes != len(self.classes) or self.num_classes < 1:
            raise ValueError(
                f"num_classes ({self.num_classes}) must equal the number of classes ({len(self.classes)})"
            )
        if not 1 <= self.image_size <= 4096:
            raise ValueError(f"image_size must be in [1, 4096], got {self.image_size}")
        if len(self.mean) != len(self.std) or any(s <= 0 for s in self.std):
            raise ValueError(
                f"mean and std must have the same length and std > 0, got {self.mean}, {self.std}"
            )
        if "num_classes" in self.model_args or "pretrained" in self.model_args:
            raise ValueError("model_args must not carry num_classes or pretrained (they are separate fields)")

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``create_model(family, pretrained=False, **kwargs)`` for this trial's model."""
        return {"num_classes": self.num_classes, **self.model_args}

    def config(self) -> dict[str, Any]:
        """The training configuration alone (the TrialConfig fields), e.g. to retrain it."""
        data = self.to_dict()
        return {k: data[k] for k in _CONFIG_FIELDS}


_CONFIG_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(TrialRecord)
    if f.name
    not in {
        "dataset",
        "task",
        "classes",
        "num_classes",
        "primary_metric",
        "model_args",
        "cam_layer",
        "mean",
        "std",
        "pretrained_cfg",
        "resumed_at_epochs",
    }
)


# -- metrics on test (best.json, vote.json) -------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Interval:
    """A metric with its 95% bootstrap interval (None where undefined, e.g. no positive)."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True, kw_only=True)
class MetricSet:
    """``medzoo.search.metrics.bootstrap_metrics`` output (the contract's metrics schema)."""

    n: int
    metrics: dict[str, Interval]
    per_class: dict[str, dict[str, float | None]] = field(default_factory=dict)
    ci: dict[str, Any] = field(default_factory=dict)
    confusion_matrix: list[list[int]] | None = None
    vote: str | None = None


@dataclass(frozen=True, kw_only=True)
class BestTrial(Record):
    """``best.json``: the trial ranked first on validation (ties to fewer GMACs), with its test metrics."""

    FILENAME: ClassVar[str] = "best.json"

    trial_id: str
    config: TrialRecord
    val: dict[str, float]
    test: dict[str, Interval] = field(default_factory=dict)
    params: int | None = None
    gmacs: float | None = None


@dataclass(frozen=True, kw_only=True)
class ParetoPoint:
    trial_id: str
    val_metric: float
    gmacs: float
    params: int | None = None
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ParetoFront(Record):
    """``pareto.json``: the trials no other trial beats on both validation metric and GMACs."""

    FILENAME: ClassVar[str] = "pareto.json"

    objectives: tuple[str, ...]
    front: tuple[ParetoPoint, ...]


@dataclass(frozen=True, kw_only=True)
class VoteResult(Record):
    """``vote.json``: the best trial per MRI sequence (on validation), majority-voted on test."""

    FILENAME: ClassVar[str] = "vote.json"

    split: Literal["test"] = "test"
    primary_metric: str
    vote: str
    sequences: dict[str, str]  # sequence -> trial id
    n: int
    metrics: dict[str, Interval]
    per_class: dict[str, dict[str, float | None]] = field(default_factory=dict)
    ci: dict[str, Any] = field(default_factory=dict)
    confusion_matrix: list[list[int]] | None = None
    patient_level: MetricSet | None = None


# -- crossval.json --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FoldResult:
    """One fold: the configuration trained on the other folds, scored on this one."""

    fold: int
    value: float | None  # the run's primary metric on the held-out fold
    n_test: int  # images in the held-out fold
    n_patients: int  # patients in the held-out fold
    epochs: int  # epochs trained (the chosen trial's epochs)


@dataclass(frozen=True, kw_only=True)
class ProtocolResult:
    """K-fold results under one split protocol.

    ``patient``: folds by patient (no patient in two folds; figshare's ``cvind.mat`` folds where the
    prepared set has them). ``image``: folds by image, as the image-level studies split (a patient's
    images may sit in training and test at once: the leak).
    """

    protocol: Literal["patient", "image"]
    folds: tuple[FoldResult, ...]
    mean: float | None
    sd: float | None


@dataclass(frozen=True, kw_only=True)
class LeakGap:
    """How much the image-level protocol overstates the metric: image mean minus patient mean.

    The interval is a percentile bootstrap over folds (each protocol's folds resampled on their own).
    """

    metric: str
    difference: float | None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True, kw_only=True)
class CrossvalResult(Record):
    """``crossval.json``: ``medzoo crossval RUN`` (the run's selected configuration, re-trained per fold)."""

    FILENAME: ClassVar[str] = "crossval.json"

    trial_id: str  # the trial whose configuration was re-trained (best.json's)
    metric: str  # the run's primary metric
    k: int
    seed: int = 0
    protocols: tuple[ProtocolResult, ...]
    leak: LeakGap | None = None  # present when both protocols ran


# -- results.parquet ------------------------------------------------------------------------------


def read_results(where: Location | str | os.PathLike[str], *, root: Location | None = None) -> pd.DataFrame:
    """``results.parquet`` (``where`` is the file or the run folder) as a DataFrame, checked.

    Missing, oversized, truncated or foreign tables and tables without ``trial_id``/``status``
    raise one FormatError naming the file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    loc = location(where)
    if loc.name != RESULTS_FILE:
        loc = loc / RESULTS_FILE
    if not loc.exists():
        raise FormatError(f"{loc.uri} is missing; the run is incomplete", fix="run the sweep to completion")
    try:
        data = loc.read_bytes(max_bytes=MAX_RESULTS_BYTES, root=root)
    except StorageError as exc:
        raise FormatError(exc.message, fix=exc.fix) from None
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FormatError(
            f"{loc.uri} is not a readable Parquet table ({type(exc).__name__}: {exc}); it may be truncated",
            fix="restore it from a copy, or rerun the sweep (medzoo sweep ... --resume)",
        ) from None
    missing = [c for c in RESULTS_COLUMNS if c not in table.column_names]
    if missing:
        raise FormatError(
            f"{loc.uri}: the columns {missing} are missing; found {table.column_names[:20]}",
            fix="this is not a medzoo results table; rerun the sweep",
        )
    return table.to_pandas()
