"""The zoo entry's typed files: ``config.json``, ``metrics.json``, ``search.json`` and the entry's ``refs.json``.

Why typed: an entry is untrusted input (someone else may have written it), and
three parts read it (the zoo's store and predictor, the leaderboards, the web
app). Each file is read here once, validated field by field, and handed on as a
frozen record, so a corrupt or hostile file is one error naming the file and
the field, never a traceback or a NaN printed as a result.

``config.json`` is also timm's file (``timm.create_model("local-dir:<entry>")``
reads ``architecture``, ``num_classes``, ``label_names``, ``model_args`` and
``pretrained_cfg``); medzoo's own facts sit in its ``medzoo`` section. Beyond the
types, :class:`EntryConfig` checks what a model may be built from: an
architecture that is a plain registry name (never ``hf-hub:`` or ``local-dir:``,
which would make medzoo fetch or read elsewhere), a class count that matches the
labels, an input size within sane bounds, ``std > 0``, and ``model_args`` that
cannot redirect weight loading. Whether the architecture is registered and the
weights fit it is checked when the model is built (``medzoo.zoo.entries.store``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from medzoo.formats._base import Record
from medzoo.formats.run import CrossvalResult

#: timm and medzoo architecture names: lower-case words, an optional ``.tag``; no scheme, no path
ARCHITECTURE_PATTERN = r"[a-z][a-z0-9_]{0,99}(\.[a-z0-9_]{1,64})?"
_ARCH_RE = re.compile(ARCHITECTURE_PATTERN)
_REV_RE = re.compile(r"r[1-9][0-9]{0,5}")
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_LAYER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")
_ARG_RE = re.compile(r"[a-z_][a-z0-9_]{0,63}")
#: input sizes a model is built for: at least 16 px (smaller cannot be a medical image), at most 1024
MIN_SIDE, MAX_SIDE = 16, 1024
MAX_CLASSES = 10_000
#: timm.create_model keywords that would load other weights or change what is built: never from an entry
FORBIDDEN_MODEL_ARGS = frozenset(
    {
        "pretrained",
        "pretrained_cfg",
        "pretrained_cfg_overlay",
        "pretrained_strict",
        "checkpoint_path",
        "cache_dir",
        "features_only",
        "num_classes",
        "model_name",
        "kwargs",
    }
)


def _compact(value: Any) -> Any:
    """JSON form without optional fields left at ``None`` or at an empty default (reading them back gives
    the same record), so files stay as small and readable as the dicts medzoo wrote before the records."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            empty_default = f.default_factory is not dataclasses.MISSING and not v and not f.default_factory()
            if (v is None and f.default is None) or empty_default:
                continue
            out[f.name] = _compact(v)
        return out
    if isinstance(value, dict):
        return {str(k): _compact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_compact(v) for v in value]
    return value


@dataclass(frozen=True, kw_only=True)
class _Compact(Record):
    """A record whose JSON leaves out optional fields that are ``None``."""

    def to_dict(self) -> dict[str, Any]:
        return _compact(self)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_model_args(args: dict[str, Any]) -> None:
    for key, value in args.items():
        if not _ARG_RE.fullmatch(key) or key in FORBIDDEN_MODEL_ARGS:
            raise ValueError(
                f"field 'model_args.{key}' is not allowed: model_args may only hold the family's own "
                f"keyword arguments (lower-case names, not {sorted(FORBIDDEN_MODEL_ARGS)})"
            )
        items = value if isinstance(value, list) else [value]
        if not all(v is None or isinstance(v, str | bool) or _number(v) for v in items):
            raise ValueError(
                f"field 'model_args.{key}' must be a number, string, true/false, null or a list of them, "
                f"found {value!r}"
            )


def _check_pretrained_cfg(pcfg: dict[str, Any]) -> None:
    size = pcfg.get("input_size")
    if (
        not isinstance(size, list)
        or len(size) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)
    ):
        raise ValueError(f"field 'pretrained_cfg.input_size' must be [C, H, W] integers, found {size!r}")
    if size[0] not in (1, 3) or not all(MIN_SIDE <= v <= MAX_SIDE for v in size[1:]):
        raise ValueError(
            f"field 'pretrained_cfg.input_size' must have 1 or 3 channels and sides in "
            f"{MIN_SIDE}..{MAX_SIDE}, found {size!r}"
        )
    for key in ("mean", "std"):
        value = pcfg.get(key)
        if not isinstance(value, list) or len(value) not in (1, 3) or not all(_number(v) for v in value):
            raise ValueError(
                f"field 'pretrained_cfg.{key}' must be a list of 1 or 3 numbers, found {value!r}"
            )
    if not all(v > 0 for v in pcfg["std"]):
        raise ValueError(f"field 'pretrained_cfg.std' must be > 0 (it divides), found {pcfg['std']!r}")
    if "num_classes" in pcfg and not (isinstance(pcfg["num_classes"], int) and pcfg["num_classes"] >= 0):
        raise ValueError(
            f"field 'pretrained_cfg.num_classes' must be an integer, found {pcfg['num_classes']!r}"
        )


@dataclass(frozen=True, kw_only=True)
class MedzooSection:
    """``config.json``'s ``medzoo`` section: the facts timm does not keep (dataset, task, provenance)."""

    dataset: str
    task: Literal["binary", "multiclass", "multilabel"]
    family: str
    weights_sha256: str
    data_kind: Literal["phantom", "real"]
    published_at: str
    library_name: Literal["timm", "medzoo"] | None = None  # timm alone loads the entry, or medzoo is needed
    base_model: str | None = None  # the Hub id of the pretrained weights the model was fine-tuned from
    cam_layer: str | None = None
    cam_reshape: Literal["vit"] | None = None
    preprocessing: Any = None
    split_protocol: str | None = None
    revision: str | None = None
    run: str | None = None
    trial_id: str | None = None
    threshold: float | dict[str, float] | None = None
    sequence: str | None = None
    modality: str | None = None
    channels: int | None = None

    def __post_init__(self) -> None:
        if not _SHA_RE.fullmatch(self.weights_sha256):
            raise ValueError(
                f"field 'medzoo.weights_sha256' must be 64 lower-case hex digits, found {self.weights_sha256!r}"
            )
        if self.cam_layer is not None and not _LAYER_RE.fullmatch(self.cam_layer):
            raise ValueError(
                f"field 'medzoo.cam_layer' must be a dotted module name, found {self.cam_layer!r}"
            )
        if self.revision is not None and not _REV_RE.fullmatch(self.revision):
            raise ValueError(f"field 'medzoo.revision' must look like r1, r2, ..., found {self.revision!r}")
        thresholds = self.threshold.values() if isinstance(self.threshold, dict) else [self.threshold]
        if not all(t is None or 0.0 <= t <= 1.0 for t in thresholds):
            raise ValueError(f"field 'medzoo.threshold' must be in [0, 1], found {self.threshold!r}")
        if self.channels is not None and self.channels not in (1, 3):
            raise ValueError(f"field 'medzoo.channels' must be 1 or 3, found {self.channels!r}")


@dataclass(frozen=True, kw_only=True)
class EntryConfig(_Compact):
    """``config.json``: what timm needs to build the model, and the ``medzoo`` section."""

    FILENAME: ClassVar[str] = "config.json"
    FORMAT_VERSION: ClassVar[int] = 1

    architecture: str
    num_classes: int
    label_names: tuple[str, ...]
    pretrained_cfg: dict[str, Any]
    model_args: dict[str, Any] = field(default_factory=dict)
    num_features: int | None = None
    medzoo: MedzooSection

    def __post_init__(self) -> None:
        if not _ARCH_RE.fullmatch(self.architecture):
            raise ValueError(
                f"field 'architecture' must be a registered model name ({ARCHITECTURE_PATTERN}); found "
                f"{self.architecture!r} (hf-hub:, local-dir: and paths are never followed from an entry)"
            )
        if not 1 <= self.num_classes <= MAX_CLASSES:
            raise ValueError(f"field 'num_classes' must be in 1..{MAX_CLASSES}, found {self.num_classes}")
        if len(self.label_names) != self.num_classes:
            raise ValueError(
                f"field 'label_names' must name num_classes={self.num_classes} classes, found "
                f"{len(self.label_names)}"
            )
        if len(set(self.label_names)) != len(self.label_names) or not all(self.label_names):
            raise ValueError(
                f"field 'label_names' must be distinct non-empty names, found {self.label_names!r}"
            )
        _check_pretrained_cfg(self.pretrained_cfg)
        _check_model_args(self.model_args)
        if isinstance(self.medzoo.threshold, dict) and set(self.medzoo.threshold) - set(self.label_names):
            raise ValueError(
                f"field 'medzoo.threshold' names labels that are not in label_names: "
                f"{sorted(set(self.medzoo.threshold) - set(self.label_names))}"
            )

    @property
    def input_size(self) -> tuple[int, int, int]:
        c, h, w = self.pretrained_cfg["input_size"]
        return int(c), int(h), int(w)

    @property
    def mean(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.pretrained_cfg["mean"])

    @property
    def std(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.pretrained_cfg["std"])


@dataclass(frozen=True, kw_only=True)
class Interval:
    """A measured value with its 95 % bootstrap interval (bounds ``None`` when undefined)."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    method: str | None = None


@dataclass(frozen=True, kw_only=True)
class Complexity:
    """Cost of the model: parameters, GMACs (fvcore), latency per batch size on ``device``."""

    params: int
    trainable_params: int | None = None
    gmacs: float | None = None
    unit: str | None = None
    macs_by_op: dict[str, float] = field(default_factory=dict)
    skipped_ops: dict[str, int] = field(default_factory=dict)
    op_coverage: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    device: str | None = None
    input_size: tuple[int, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class GradcamMetrics:
    """The Grad-CAM evidence: localisation against lesion masks and faithfulness (ROAD)."""

    target_layer: str
    method: str
    seed: int | None = None
    pointing_game: Interval | None = None
    energy_in_mask: Interval | None = None
    mask_share: float | None = None
    localisation_images: int | None = None
    faithfulness: Interval | None = None
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class MetricBlock:
    """Test metrics of one evaluation (the entry's test split, a patient vote, another dataset)."""

    n: int | None = None
    metrics: dict[str, Interval]
    per_class: dict[str, dict[str, Any]] = field(default_factory=dict)
    ci: dict[str, Any] = field(default_factory=dict)
    confusion_matrix: list[list[int]] | None = None
    vote: str | None = None
    dataset: str | None = None
    split: str | None = None
    removed_duplicates: int | None = None
    primary_metric: str | None = None
    #: a patient-level vote: how many patients the metrics rest on (``n`` counts the voted rows, one per patient)
    n_patients: int | None = None


@dataclass(frozen=True, kw_only=True)
class EntryMetrics(_Compact):
    """``metrics.json``: every test metric with its interval, plus complexity and Grad-CAM evidence."""

    FILENAME: ClassVar[str] = "metrics.json"
    FORMAT_VERSION: ClassVar[int] = 1

    dataset: str | None = None
    split: str = "test"
    primary_metric: str
    n: int | None = None
    metrics: dict[str, Interval]
    per_class: dict[str, dict[str, Any]] = field(default_factory=dict)
    ci: dict[str, Any] = field(default_factory=dict)
    confusion_matrix: list[list[int]] | None = None
    patient_level: MetricBlock | None = None
    complexity: Complexity | None = None
    gradcam: GradcamMetrics | None = None
    cross_dataset: dict[str, MetricBlock] = field(default_factory=dict)
    #: the run's ``crossval.json`` (``medzoo crossval``), carried over at publish when present
    crossval: CrossvalResult | None = None

    def __post_init__(self) -> None:
        if not self.metrics:
            raise ValueError("field 'metrics' must hold at least one metric, found none")
        if self.primary_metric not in self.metrics:
            raise ValueError(
                f"field 'primary_metric' must name one of its metrics ({', '.join(sorted(self.metrics))}), "
                f"found {self.primary_metric!r}"
            )

    @property
    def primary(self) -> Interval:
        return self.metrics[self.primary_metric]


@dataclass(frozen=True, kw_only=True)
class SearchProvenance(_Compact):
    """``search.json``: the sweep that produced the entry (space, trials, scheduler, budget, chosen config)."""

    FILENAME: ClassVar[str] = "search.json"
    FORMAT_VERSION: ClassVar[int] = 1

    run: str
    run_name: str
    dataset: str | None = None
    recipe: str | None = None
    space: Any = None
    search: str | None = None
    scheduler: str | None = None
    objectives: Any = None
    samples: int | None = None
    budget: Any = None
    smoke: bool = False
    started: str | None = None
    finished: str | None = None
    ray_version: str | None = None
    primary_metric: str
    mode: Literal["min", "max"] = "max"
    trials: int
    configurations_compared: int
    compute_hours: float | None = None
    trial_id: str
    best_config: dict[str, Any] = field(default_factory=dict)
    best_config_text: str = ""
    trial_row: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Refs(_Compact):
    """``<zoo>/<dataset>/<name>/refs.json``: the entry's revisions and the newest."""

    FILENAME: ClassVar[str] = "refs.json"
    FORMAT_VERSION: ClassVar[int] = 1

    latest: str | None = None
    revisions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        bad = [r for r in self.revisions if not _REV_RE.fullmatch(r)]
        if bad:
            raise ValueError(f"field 'revisions' must hold names like r1, r2, ...; found {bad}")
        if self.latest is not None and self.latest not in self.revisions:
            raise ValueError(
                f"field 'latest' must be one of the revisions {list(self.revisions)}, found {self.latest!r}"
            )
        if self.revisions and self.latest is None:
            raise ValueError("field 'latest' must name the newest revision when there are revisions")

    def to_json(self) -> str:
        """The plain two-key file (no ``format_version``: absent means 1), as scripts and older medzoo read it."""
        import json

        return json.dumps(self.to_dict(), indent=2) + "\n"

    def adding(self, revision: str) -> Refs:
        """These refs with ``revision`` added (and the numerically newest as latest)."""
        revisions = tuple(sorted(set(self.revisions) | {revision}, key=lambda r: int(r[1:])))
        return Refs(latest=revisions[-1], revisions=revisions)


# -- the model card's model-index (what the Hub reads) ---------------------------------------------

#: medzoo metric name -> (the Hub's metric id, its arguments). Only these go into the card's
#: model-index, so every metric there is one the Hub knows; the others (ECE, balanced accuracy, ...)
#: stay in metrics.json and the card's body. ``medzoo_metric`` in the arguments names ours.
HUB_METRICS: dict[str, tuple[str, dict[str, str]]] = {
    "accuracy": ("accuracy", {}),
    "f1": ("f1", {}),
    "macro_f1": ("f1", {"average": "macro"}),
    "macro_precision": ("precision", {"average": "macro"}),
    "macro_recall": ("recall", {"average": "macro"}),
    "auc": ("roc_auc", {}),
    "macro_auc": ("roc_auc", {"average": "macro", "multi_class": "ovr"}),
    "mean_auroc": ("roc_auc", {"average": "macro", "multi_label": "true"}),
}


def medzoo_metric_of(metric_type: str, metric_args: dict[str, Any] | None) -> str:
    """The medzoo metric a model-index result stands for (its ``medzoo_metric`` argument, else its type)."""
    name = (metric_args or {}).get("medzoo_metric")
    return name if isinstance(name, str) else metric_type
