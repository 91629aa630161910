"""Cross-validation of a run's chosen configuration, by patient and by image: the leak, measured.

A sweep's held-out test result rests on one split. ``crossval`` re-trains the configuration the
sweep selected (``best.json``) from scratch on K folds and scores each held-out fold with the
run's primary metric, so the result carries its spread (mean +- SD over folds), under two
protocols:

- ``patient``: no patient has images in two folds. When the prepared set carries its own
  patient-level folds (figshare-brain's official ``cvind.mat`` folds, or ``prepare --folds K``)
  those are used as they are; otherwise patients are dealt to K folds, class by class.
- ``image``: folds by image, stratified by class, as the image-level studies split (brain,
  glioma, leukaemia). A patient's images may then sit in training and in the held-out fold at
  once, which is the leak: ``leak`` = image mean minus patient mean, with a percentile bootstrap
  interval over folds.

The folds cover the prepared set's train+val rows only. The test split was looked at once,
after selection, for ``best.json``; folding it back into training would spend it again and
leave no untouched estimate, so it stays out. Each fold trains for the chosen trial's best
epoch (the epoch whose weights the sweep kept), with the configuration's own learning-rate
schedule, no early stopping and no plateau steps: nothing about training may look at the
held-out fold, which is scored once, after the last epoch.

Folds run as Ray tasks (a private local Ray by default, or ``address``), or one after another in
this process (``executor="local"``). Randomness comes from ``np.random.default_rng`` and the
trial's own seeded generators; the process RNG is never seeded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from medzoo.errors import ConfigError, DatasetError, MedzooError, SweepError
from medzoo.formats.run import (
    BestTrial,
    CrossvalResult,
    FoldResult,
    LeakGap,
    ProtocolResult,
    RunInfo,
    read_results,
)
from medzoo.storage import Location, location

if TYPE_CHECKING:
    import os

    import pandas as pd

    from medzoo.search.datacache import DataRef

Protocol = Literal["patient", "image"]
PROTOCOLS: tuple[Protocol, ...] = ("patient", "image")
#: K when the prepared set carries no folds of its own
DEFAULT_FOLDS = 5
#: bootstrap resamples of the leak's interval (over fold values: cheap)
LEAK_RESAMPLES = 10_000


@dataclass(frozen=True, kw_only=True)
class FoldPlan:
    """One fold of one protocol: pool positions (the train split's rows, then the val split's) held out."""

    protocol: Protocol
    fold: int
    train_rows: tuple[int, ...]
    test_rows: tuple[int, ...]
    n_patients: int  # distinct patients in the held-out rows
    shared_patients: int  # of those, patients who also have images in the training rows (the leak)


@dataclass(frozen=True, kw_only=True)
class FoldJob:
    """Everything one fold's training needs, as plain data (a Ray task's argument)."""

    plan: FoldPlan
    data: DataRef
    config: dict[str, Any]  # the chosen trial's TrialConfig fields
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    epochs: int
    metric: str
    pool_size: int


@dataclass(frozen=True, kw_only=True)
class FoldScore:
    value: float | None
    n_test: int
    epochs: int
    seconds: float


# -- the library call -------------------------------------------------------------------------------


def crossval(
    *,
    run: str | os.PathLike[str] | Location,
    folds: int | None = None,
    protocols: Sequence[Protocol] = ("patient",),
    seed: int = 0,
    epochs: int | None = None,
    executor: Literal["ray", "local"] = "ray",
    address: str | None = None,
    cpus_per_fold: float = 1.0,
    gpus_per_fold: float = 0.0,
    progress: Callable[[str], None] | None = None,
) -> CrossvalResult:
    """Re-train ``run``'s selected configuration on K folds per protocol; write ``RUN/crossval.json``.

    ``folds``: K; None means the prepared set's own patient-level folds when it has them, else 5
    (a K that contradicts the set's own folds is refused rather than silently replaced).
    ``epochs`` caps the epochs per fold (default: the chosen trial's best epoch; tests use 1).
    ``address`` joins a Ray cluster (None: a private local Ray); ``executor="local"`` runs the
    folds in this process.
    """
    protocols = _check_protocols(protocols)
    run_loc = location(run)
    info, best = read_run(run_loc)
    data, prepared = _data_ref(info)
    pool = pool_manifest(prepared, sequence=best.config.sequence)
    k = resolve_folds(pool, folds)
    if "patient" in protocols:
        _require_patient_ids(info.dataset)
    n_epochs = chosen_epochs(run_loc, best, cap=epochs)
    plans = [p for name in protocols for p in plan_folds(pool, protocol=name, k=k, seed=seed)]
    jobs = [
        FoldJob(
            plan=plan,
            data=data,
            config=best.config.config(),
            image_size=best.config.image_size,
            mean=best.config.mean,
            std=best.config.std,
            epochs=n_epochs,
            metric=info.primary_metric,
            pool_size=len(pool),
        )
        for plan in plans
    ]
    if progress is not None:
        progress(
            f"re-training {best.trial_id} ({best.config.family}, {n_epochs} epoch(s)) on {k} folds x "
            f"{'/'.join(protocols)} of the {len(pool)} train+val images ({len(jobs)} trainings)"
        )
    scores = run_jobs(jobs, executor=executor, address=address, cpus=cpus_per_fold, gpus=gpus_per_fold)
    result = summarise(
        plans, scores, trial_id=best.trial_id, metric=info.primary_metric, k=k, seed=seed, progress=progress
    )
    result.write(run_loc)
    return result


def _check_protocols(protocols: Sequence[str]) -> tuple[Protocol, ...]:
    chosen = tuple(dict.fromkeys(protocols))
    bad = [p for p in chosen if p not in PROTOCOLS]
    if bad or not chosen:
        raise ConfigError(
            f"protocols must be among {list(PROTOCOLS)}, got {list(protocols)}",
            fix="use --protocol patient, --protocol image or --protocol both",
        )
    return chosen  # type: ignore[return-value]


# -- reading the run ------------------------------------------------------------------------------


def read_run(run: Location) -> tuple[RunInfo, BestTrial]:
    """The run's spec and its selected trial; an unfinished run or one without ``best.json`` is refused."""
    if not (run / RunInfo.FILENAME).exists():
        raise SweepError(
            f"{run.uri} has no run.json; it is not a run folder",
            fix="pass the folder (or URI) that `medzoo sweep` wrote",
        )
    info = RunInfo.read(run)
    if info.finished is None:
        raise SweepError(
            f"run {run.uri} has not finished (run.json records no finish time)",
            fix=f"finish it first: medzoo sweep --out {run.uri} --resume",
        )
    if not (run / BestTrial.FILENAME).exists():
        raise SweepError(
            f"run {run.uri} has no best.json: no trial was selected",
            fix="cross-validate a run whose sweep selected a trial (medzoo sweep ... wrote best.json)",
        )
    return info, BestTrial.read(run)


def chosen_epochs(run: Location, best: BestTrial, *, cap: int | None = None) -> int:
    """The epochs the chosen weights were trained for: results.parquet's ``best_epoch`` (else its
    ``epochs``, else the configuration's), at most ``cap`` and the configuration's ``epochs``."""
    if cap is not None and cap < 1:
        raise ConfigError(f"epochs >= 1 must hold, got {cap}", fix="pass --epochs 1 or more")
    import pandas as pd

    table = read_results(run)
    row = table[table["trial_id"] == best.trial_id]
    n = best.config.epochs
    for column in ("best_epoch", "epochs"):
        value = pd.to_numeric(row[column], errors="coerce").iloc[0] if column in row and len(row) else None
        if value is not None and np.isfinite(value) and value >= 1:
            n = int(value)
            break
    return max(1, min(n, best.config.epochs, cap or n))


def _data_ref(info: RunInfo) -> tuple[DataRef, Path]:
    """The run's prepared set as every fold reaches it, and its local copy on this machine."""
    from medzoo.paths import resolve_home
    from medzoo.search.datacache import DataRef, content_digest, materialize

    source = location(info.prepared)
    if not (source / "dataset.json").exists():
        raise DatasetError(
            f"the run's prepared set {info.prepared} is missing (run.json names it)",
            fix="restore the prepared set there, or re-prepare it with medzoo datasets prepare",
        )
    digest, dataset = content_digest(source)
    ref = DataRef(uri=info.prepared, digest=digest, dataset=dataset)
    return ref, materialize(ref, cache_root=resolve_home() / "cache").path


def _require_patient_ids(dataset: str) -> None:
    from medzoo import datasets

    if not datasets.get(dataset).has_patient_ids:
        raise DatasetError(
            f"{dataset} publishes no patient ids (each image is its own patient), so the patient-level "
            "protocol cannot keep a patient's images together",
            fix="use --protocol image (its folds are by image, like the study's split)",
        )


# -- the folds ----------------------------------------------------------------------------------------


def pool_manifest(prepared: Path, *, sequence: str | None = None) -> pd.DataFrame:
    """The rows folds are drawn from: the train split's, then the val split's (the order in which
    a fold's datasets are opened), of one sequence when the configuration names one."""
    import pandas as pd

    from medzoo import datasets

    df = datasets.read_manifest(prepared)
    if sequence is not None and "sequence" in df.columns:
        df = df[df["sequence"] == sequence]
    pool = pd.concat([df[df["split"] == "train"], df[df["split"] == "val"]])
    return pool.reset_index(drop=True)


def resolve_folds(pool: pd.DataFrame, folds: int | None) -> int:
    """K: the prepared set's own patient-level folds when it has them (``folds`` must agree), else ``folds``."""
    own = _own_folds(pool)
    if own is not None and folds is not None and folds != own:
        raise ConfigError(
            f"the prepared set carries its own {own} patient-level folds (e.g. figshare's cvind.mat); "
            f"--folds {folds} contradicts them",
            fix=f"omit --folds (both protocols then use K={own}), or re-prepare with --folds {folds}",
        )
    k = own or folds or DEFAULT_FOLDS
    if k < 2:
        raise ConfigError(f"cross-validation needs K >= 2 folds, got {k}", fix="pass --folds 2 or more")
    patients = pool["patient_id"].nunique()
    if k > patients:
        raise ConfigError(
            f"K={k} folds need at least {k} patients in the train+val pool; it has {patients}",
            fix=f"pass --folds {max(2, patients)} or fewer",
        )
    return k


def _own_folds(pool: pd.DataFrame) -> int | None:
    """The number of the prepared set's own folds, if every pool row has one and no patient spans two
    (a set prepared with ``--split image --folds K`` has image-level folds: not patient folds)."""
    if "fold" not in pool.columns or not len(pool):
        return None
    values = pool["fold"].to_numpy()
    if (values < 0).any() or (pool.groupby("patient_id")["fold"].nunique() > 1).any():
        return None
    return int(len(np.unique(values)))


def plan_folds(pool: pd.DataFrame, *, protocol: Protocol, k: int, seed: int) -> tuple[FoldPlan, ...]:
    """K disjoint held-out sets covering the pool, under ``protocol``."""
    if protocol == "patient":
        own = _own_folds(pool)
        if own is not None:
            values = np.unique(pool["fold"].to_numpy())
            assign = np.searchsorted(values, pool["fold"].to_numpy())
        else:
            assign = patient_folds(pool["patient_id"].to_numpy(), _strata(pool), k=k, seed=seed)
    else:
        assign = image_folds(_strata(pool), k=k, seed=seed)
    patients = pool["patient_id"].to_numpy()
    plans = []
    for fold in range(k):
        held = np.flatnonzero(assign == fold)
        rest = np.flatnonzero(assign != fold)
        held_ids = set(patients[held].tolist())
        plans.append(
            FoldPlan(
                protocol=protocol,
                fold=fold,
                train_rows=tuple(int(i) for i in rest),
                test_rows=tuple(int(i) for i in held),
                n_patients=len(held_ids),
                shared_patients=len(held_ids & set(patients[rest].tolist())),
            )
        )
    return tuple(plans)


def _strata(pool: pd.DataFrame) -> np.ndarray:
    """The class of each row for stratification (multi-label rows: one stratum)."""
    labels = pool["label"].to_numpy()
    return labels.astype(np.int64) if labels.dtype.kind in "iu" else np.zeros(len(pool), np.int64)


def image_folds(strata: np.ndarray, *, k: int, seed: int) -> np.ndarray:
    """Stratified K-fold by image: each class's rows shuffled and dealt round-robin across folds."""
    rng = np.random.default_rng([seed, 1])
    assign = np.empty(len(strata), np.int64)
    start = 0
    for label in np.unique(strata):
        rows = rng.permutation(np.flatnonzero(strata == label))
        assign[rows] = (start + np.arange(len(rows))) % k
        start = (start + len(rows)) % k
    return assign


def patient_folds(patients: np.ndarray, strata: np.ndarray, *, k: int, seed: int) -> np.ndarray:
    """Group K-fold by patient: patients (largest first, ties in seeded order) go to the fold that
    holds the fewest images of their main class, then the fewest images; no patient is split."""
    rng = np.random.default_rng([seed, 0])
    ids, inverse = np.unique(patients, return_inverse=True)
    order = rng.permutation(len(ids))
    sizes = np.bincount(inverse, minlength=len(ids))
    order = order[np.argsort(-sizes[order], kind="stable")]
    n_strata = int(strata.max()) + 1 if len(strata) else 1
    per_class = np.zeros((k, n_strata), np.int64)
    total = np.zeros(k, np.int64)
    patient_fold = np.empty(len(ids), np.int64)
    for p in order:
        main = int(np.bincount(strata[inverse == p], minlength=n_strata).argmax())
        fold = min(range(k), key=lambda f: (per_class[f, main], total[f], f))
        patient_fold[p] = fold
        per_class[fold, main] += sizes[p]
        total[fold] += sizes[p]
    return patient_fold[inverse]


# -- running the folds ------------------------------------------------------------------------------


def run_jobs(
    jobs: Sequence[FoldJob], *, executor: str, address: str | None, cpus: float, gpus: float
) -> list[FoldScore]:
    """Each fold's score, in the jobs' order: Ray tasks (errors re-raised as medzoo's), or in process."""
    if executor == "local":
        return [run_fold(job) for job in jobs]
    if executor != "ray":
        raise ConfigError(f"executor must be 'ray' or 'local', got {executor!r}")
    import ray

    from medzoo.cluster.connect import connect

    with connect(address=address):
        task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(run_fold)
        refs = [task.remote(job) for job in jobs]
        try:
            return ray.get(refs)
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, MedzooError):
                raise exc.cause from None
            raise SweepError(
                f"a cross-validation fold failed: {type(exc.cause).__name__}: {exc.cause}",
                fix="see the error above; rerun with --executor local to debug in this process",
            ) from None


def run_fold(job: FoldJob) -> FoldScore:
    """Train the configuration from scratch on the fold's training rows; score its held-out rows once."""
    from medzoo.paths import resolve_home
    from medzoo.search.config import from_dict
    from medzoo.search.datacache import materialize
    from medzoo.search.trial import build_trial, run_epoch

    t0 = time.perf_counter()
    prepared = materialize(job.data, cache_root=resolve_home() / "cache").path
    cfg = from_dict(
        dict(job.config), where=f"the chosen configuration ({job.plan.protocol} fold {job.plan.fold})"
    )
    opened = fold_views(cfg, prepared, job)
    parts = build_trial(cfg, prepared=prepared, max_epochs=job.epochs, opened=opened)
    metrics: dict[str, Any] = {}
    for epoch in range(parts.epochs):
        # run_epoch also scores the held-out rows each epoch; only the last epoch's score is kept,
        # and nothing (early stopping, plateau steps, best-epoch weights) reads the others
        _, metrics = run_epoch(parts, epoch)
    value = metrics.get(job.metric)
    finite = value is not None and np.isfinite(value)
    return FoldScore(
        value=float(value) if finite else None,
        n_test=len(job.plan.test_rows),
        epochs=parts.epochs,
        seconds=time.perf_counter() - t0,
    )


def fold_views(cfg: Any, prepared: Path, job: FoldJob) -> dict[str, FoldView]:
    """The fold's training rows (augmented as the configuration says) and held-out rows (plain)."""
    from medzoo.search.trial import open_split

    def pool(train: bool) -> tuple[Any, ...]:
        return tuple(
            open_split(
                prepared, split, cfg, image_size=job.image_size, mean=job.mean, std=job.std, train=train
            )
            for split in ("train", "val")
        )

    plain = pool(False)
    augmented = pool(True) if cfg.augment != "none" else plain
    size = sum(len(p) for p in plain)
    if size != job.pool_size:
        raise DatasetError(
            f"{prepared} has {size} train+val rows here but {job.pool_size} where the folds were planned",
            fix="the prepared set changed during cross-validation; rerun medzoo crossval",
        )
    return {"train": FoldView(augmented, job.plan.train_rows), "val": FoldView(plain, job.plan.test_rows)}


class FoldView:
    """Some rows of the pool (the train split's dataset, then the val split's) as one dataset.

    Carries ``targets``, ``classes``, ``task`` and ``patient_ids`` like a prepared split, so the
    trial's loaders (class-balanced sampling, loss weights) treat it as one; ``index`` is the pool row.
    """

    def __init__(self, parts: Sequence[Any], rows: Sequence[int]) -> None:
        offsets = np.cumsum([0, *(len(p) for p in parts)])
        self.parts = tuple(parts)
        self.rows = np.asarray(rows, np.int64)
        self.part_of = np.searchsorted(offsets, self.rows, side="right") - 1
        self.local = self.rows - offsets[self.part_of]
        self.targets = np.concatenate([np.asarray(p.targets) for p in parts])[self.rows]
        self.patient_ids = np.concatenate([np.asarray(p.patient_ids) for p in parts])[self.rows]
        self.classes = list(parts[0].classes)
        self.task = parts[0].task

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} rows")
        item = dict(self.parts[self.part_of[i]][int(self.local[i])])
        item["index"] = int(self.rows[i])
        return item


# -- the summary ------------------------------------------------------------------------------------


def summarise(
    plans: Sequence[FoldPlan],
    scores: Sequence[FoldScore],
    *,
    trial_id: str,
    metric: str,
    k: int,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> CrossvalResult:
    """Per-protocol folds, mean and SD (sample SD, ddof=1), and the leak when both protocols ran."""
    results = []
    for protocol in dict.fromkeys(p.protocol for p in plans):
        folds = tuple(
            FoldResult(fold=p.fold, value=s.value, n_test=s.n_test, n_patients=p.n_patients, epochs=s.epochs)
            for p, s in zip(plans, scores, strict=True)
            if p.protocol == protocol
        )
        mean, sd = mean_sd([f.value for f in folds])
        results.append(ProtocolResult(protocol=protocol, folds=folds, mean=mean, sd=sd))
        if progress is not None:
            shared = sum(p.shared_patients for p in plans if p.protocol == protocol)
            progress(f"{protocol}: {len(folds)} folds, {shared} held-out patients also in training")
    by_name = {r.protocol: r for r in results}
    leak = None
    if "patient" in by_name and "image" in by_name:
        leak = leak_gap(
            [f.value for f in by_name["patient"].folds],
            [f.value for f in by_name["image"].folds],
            metric=metric,
            seed=seed,
        )
    return CrossvalResult(
        trial_id=trial_id, metric=metric, k=k, seed=seed, protocols=tuple(results), leak=leak
    )


def _finite(values: Sequence[float | None]) -> np.ndarray:
    v = np.asarray([np.nan if x is None else x for x in values], dtype=float)
    return v[np.isfinite(v)]


def mean_sd(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample SD of the defined fold values (None where there are too few)."""
    v = _finite(values)
    if not len(v):
        return None, None
    return float(v.mean()), (float(v.std(ddof=1)) if len(v) > 1 else None)


def leak_gap(
    patient: Sequence[float | None],
    image: Sequence[float | None],
    *,
    metric: str,
    seed: int,
    resamples: int = LEAK_RESAMPLES,
    level: float = 0.95,
) -> LeakGap:
    """Image mean minus patient mean; percentile bootstrap CI, each protocol's folds resampled on their own."""
    from medzoo.scoring import percentile_interval

    p, i = _finite(patient), _finite(image)
    if not len(p) or not len(i):
        return LeakGap(metric=metric, difference=None)
    rng_p, rng_i = np.random.default_rng([seed, 2]), np.random.default_rng([seed, 3])
    draws = rng_i.choice(i, size=(resamples, len(i))).mean(axis=1) - rng_p.choice(
        p, size=(resamples, len(p))
    ).mean(axis=1)
    lo, hi = percentile_interval(draws, level=level)
    return LeakGap(metric=metric, difference=float(i.mean() - p.mean()), ci_low=lo, ci_high=hi)


__all__ = [
    "FoldPlan",
    "FoldScore",
    "FoldView",
    "crossval",
    "image_folds",
    "leak_gap",
    "mean_sd",
    "patient_folds",
    "plan_folds",
    "pool_manifest",
    "resolve_folds",
]
