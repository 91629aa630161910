"""A per-dataset leaderboard, built only from what the zoo publishes.

Each row comes from one zoo entry (latest revision): the model card (README.md
front matter, read with huggingface_hub) names the model and states the headline
number, metrics.json gives the intervals and costs, config.json's ``medzoo``
section gives date, data kind and split protocol. The studies' own numbers
(``medzoo.zoo.paper_reported``) ride along as reference rows that are never
ranked with medzoo's results. An unreadable entry does not sink the board: it is
listed in ``Board.problems`` with the file and the reason, and every view shows it.

The zoo is a ``medzoo.storage.Location`` (a folder or an ``s3://`` / ``gs://``
URI); the entries are listed and their files read, through the zoo's typed
records, by :mod:`medzoo.leaderboards.entries`. The boards' dataset list comes
from the dataset registry (every dataset that is not evaluation-only).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medzoo.errors import MedzooError, UnknownNameError, ZooError
from medzoo.leaderboards.entries import (
    IMAGE_DIRS,
    IMAGE_SUFFIXES,
    EntryRef,
    board_dataset_ids,
    child,
    display,
    eval_only_ids,
    list_entries,
    read_entry,
    zoo_datasets,
    zoo_location,
)
from medzoo.leaderboards.ranking import Scored, pareto_front, rank_with_ties

if TYPE_CHECKING:
    from medzoo.formats.entry import EntryMetrics, SearchProvenance
    from medzoo.storage import Location

__all__ = [
    "IMAGE_DIRS",
    "IMAGE_SUFFIXES",
    "Board",
    "CrossvalSummary",
    "Interval",
    "ReferenceRow",
    "Row",
    "SweepTrial",
    "signed_interval",
    "table",
]
#: metrics and costs where a smaller number is the better one
LOWER_IS_BETTER = frozenset({"ece", "brier", "log_loss", "loss", "params", "gmacs", "latency"})
#: sort keys that are not metric names
COST_KEYS = ("params", "gmacs", "latency", "pointing_game", "date")
#: order in which data kinds are listed; each kind is ranked on its own
DATA_KIND_ORDER = ("real", "phantom", "unknown")
#: a card and metrics.json may differ by rounding only
_CARD_TOLERANCE = 5e-4


@dataclass(frozen=True)
class Interval:
    """A metric value with its 95 % bootstrap interval (bounds ``None`` when not reported)."""

    value: float
    ci_low: float | None = None
    ci_high: float | None = None

    @classmethod
    def of(cls, record: Any, *, where: str) -> Interval:
        """From a ``medzoo.formats.entry.Interval``: a finite value inside its interval, or ZooError."""
        value, low, high = record.value, record.ci_low, record.ci_high
        if value is None:
            raise ZooError(f"{where}: the metric has no value (null); a board ranks numbers only")
        if low is not None and high is not None and not low <= value <= high:
            raise ZooError(
                f"{where}: ci_low <= value <= ci_high must hold, got ci_low={low}, value={value}, ci_high={high}"
            )
        return cls(value, low, high)

    @classmethod
    def of_optional(cls, record: Any, *, where: str) -> Interval | None:
        return None if record is None or record.value is None else cls.of(record, where=where)

    def scored(self) -> Scored:
        return Scored(self.value, self.ci_low, self.ci_high)


@dataclass(frozen=True)
class CrossvalSummary:
    """The entry's K-fold cross-validation (``metrics.json`` ``crossval``): mean +- SD under one protocol.

    The board shows the patient-level (honest) protocol when the entry has it, else the image-level one,
    labelled as such.
    """

    metric: str
    protocol: str  # "patient" or "image"
    k: int
    mean: float
    sd: float | None

    def text(self, digits: int = 3) -> str:
        sd = "" if self.sd is None else f" ± {self.sd:.{digits}f}"
        where = "" if self.protocol == "patient" else ", image-level folds"
        return f"{self.mean:.{digits}f}{sd} ({self.k}-fold{where})"


def signed_interval(iv: Interval | None, digits: int = 3) -> str:
    """A difference with its interval, sign always shown ("+0.052 [+0.010, +0.094]"); "-" when absent."""
    if iv is None:
        return "-"
    if iv.ci_low is None or iv.ci_high is None:
        return f"{iv.value:+.{digits}f}"
    return f"{iv.value:+.{digits}f} [{iv.ci_low:+.{digits}f}, {iv.ci_high:+.{digits}f}]"


@dataclass
class Row:
    """One published entry on a board."""

    entry_id: str
    dataset: str
    name: str
    model: str  # the card's model_name (user input: views escape it)
    architecture: str
    revision: str
    primary_metric: str  # what the entry's metrics.json calls primary
    primary: Interval
    metrics: dict[str, Interval]
    n: int | None
    params_m: float | None
    gmacs: float | None
    latency_ms: float | None
    latency_device: str | None
    pointing_game: Interval | None
    energy_in_mask: Interval | None
    cross_dataset: dict[str, Interval]
    split_protocol: str
    data_kind: str
    published_at: str
    card: str  # README.md, relative to the zoo root
    rank: str = ""
    pareto: bool = False
    images: list[str] = field(default_factory=list)  # plots/... and gradcam/... relative to the entry
    revisions: list[str] = field(default_factory=list)  # every published revision, oldest first
    hyperparameters: dict[str, str] = field(default_factory=dict)  # the sweep's best configuration
    task: str = "multiclass"  # config.json medzoo.task: binary, multiclass or multilabel
    threshold: float | None = None  # the entry's decision threshold (binary / multi-label), if one
    labels: list[str] = field(default_factory=list)  # class names, in the model's output order
    sweep: SweepTrial | None = None  # the sweep trial this entry was published from (search.json)
    library_name: str | None = (
        None  # "timm" when timm alone loads the entry (config.json medzoo.library_name)
    )
    crossval: CrossvalSummary | None = None  # K-fold mean +- SD of the selected configuration
    leak: Interval | None = None  # image-level minus patient-level CV mean, with its interval

    def crossval_text(self) -> str:
        return "-" if self.crossval is None else self.crossval.text()

    def leak_text(self) -> str:
        return signed_interval(self.leak)


@dataclass(frozen=True)
class SweepTrial:
    """What one entry's search.json says about its sweep: the run, its size, and this trial's row."""

    run: str  # the run folder's URI (as recorded; never read by the boards)
    run_name: str
    slug: str  # file name of the sweep page: the run name made URL-safe, plus a hash of the run URI
    trial_id: str
    primary_metric: str
    mode: str  # "max" or "min": which way the sweep optimised
    trials: int  # trials the sweep ran in all
    search: str | None
    scheduler: str | None
    started: str | None
    config: dict[str, Any]  # hyperparameter -> value (numbers, strings, booleans)
    validation: float | None  # the trial's validation value of the primary metric
    test: float | None  # its test value, when the run recorded one


@dataclass
class ReferenceRow:
    """A study's own number: shown for context, never ranked with medzoo's rows."""

    study: str
    recipe: str
    architecture: str
    variant: str | None
    metrics: dict[str, float]
    params_m: float | None
    gflops: float | None
    protocol: str
    cross_dataset: dict[str, float] = field(default_factory=dict)
    label: str = "paper-reported"


@dataclass
class Board:
    """Everything a view needs to show one dataset's leaderboard."""

    dataset: str
    primary_metric: str
    sort: str
    higher_is_better: bool
    rows: list[Row]
    reference: list[ReferenceRow]
    problems: list[str]
    secondary_metrics: list[str]
    cross_datasets: list[str]

    @property
    def has_crossval(self) -> bool:
        """Whether any row has a cross-validation result (the views add its column only then)."""
        return any(r.crossval is not None for r in self.rows)

    @property
    def has_leak(self) -> bool:
        """Whether any row measured the leak (image-level vs patient-level protocol)."""
        return any(r.leak is not None for r in self.rows)

    @property
    def data_kinds(self) -> list[str]:
        """The data kinds present, in display order (each is ranked on its own)."""
        present = {r.data_kind for r in self.rows}
        return [k for k in DATA_KIND_ORDER if k in present]

    @property
    def data_kind(self) -> str:
        """ "real", "phantom", "mixed", or "none" (no entries yet)."""
        kinds = self.data_kinds
        return kinds[0] if len(kinds) == 1 else ("mixed" if kinds else "none")

    def rows_of(self, kind: str) -> list[Row]:
        return [r for r in self.rows if r.data_kind == kind]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``SITE/<dataset>.json``); paths are relative to the zoo."""
        out = asdict(self)
        out["data_kind"] = self.data_kind
        out["tie_rule"] = TIE_RULE
        return out


TIE_RULE = (
    "Rows are sorted best-first; a row shares the rank of the group above when its 95% interval "
    "overlaps the interval of that group's first (best) row, so ties never chain. "
    "Ranks count the rows above (1, =2, =2, 4). Each data kind (real, phantom) is ranked on its own."
)


def table(dataset_id: str, *, zoo: str | Path | Location, sort: str | None = None) -> Board:
    """The leaderboard of ``dataset_id`` from the entries in ``zoo`` (a path or a storage URI).

    ``sort`` ranks by another metric (any metric the entries report, or
    params / gmacs / latency / pointing_game / date); the default is the primary
    metric of the dataset's entries. Paper-reported rows are attached unranked.
    An entry that cannot be read is listed in ``problems`` and the rest still rank.
    """
    root = zoo_location(zoo)
    refs, found = list_entries(root, dataset_id)
    problems = [str(p) for p in found]
    if not refs and not found and dataset_id not in zoo_datasets(root):
        from medzoo import datasets

        datasets.get(dataset_id)  # a typo in the id raises here, with the close matches
    rows: list[Row] = []
    for ref in refs:
        try:
            rows.append(read_row(ref, zoo=root))
        except MedzooError as exc:
            problems.append(f"{ref.dataset}/{ref.name}: {exc.message}")
    primary = _primary_metric(rows, dataset_id)
    rows = _with_primary(rows, primary, problems)
    sort_key = sort or primary
    _check_sort_key(sort_key, rows, primary)
    higher = _higher_is_better(sort_key)
    ranked = [r for kind in DATA_KIND_ORDER for r in _rank(_of_kind(rows, kind), sort_key, higher)]
    reference = _reference_rows(dataset_id)
    cross = sorted(
        {d for r in rows for d in r.cross_dataset} | {d for r in reference for d in r.cross_dataset}
    )
    return Board(
        dataset=dataset_id,
        primary_metric=primary,
        sort=sort_key,
        higher_is_better=higher,
        rows=ranked,
        reference=reference,
        problems=problems,
        secondary_metrics=sorted({m for r in rows for m in r.metrics} - {primary}),
        cross_datasets=cross,
    )


def _of_kind(rows: list[Row], kind: str) -> list[Row]:
    return [r for r in rows if r.data_kind == kind]


def _with_primary(rows: list[Row], primary: str, problems: list[str]) -> list[Row]:
    """Rows that report the board's primary metric; the others go to ``problems``."""
    kept: list[Row] = []
    for row in rows:
        if primary in row.metrics:
            row.primary = row.metrics[primary]
            kept.append(row)
        else:
            problems.append(
                f"{row.entry_id}: metrics.json has no {primary!r}, the primary metric of this board "
                f"(it reports {', '.join(sorted(row.metrics))}); republish it with the dataset's recipe"
            )
    return kept


def read_row(ref: EntryRef, *, zoo: Location) -> Row:
    """One board row from a zoo entry's latest revision; a MedzooError names the bad file."""
    files = read_entry(ref, zoo=zoo)
    where = display(child(zoo, ref.dataset, ref.name, ref.revision, "metrics.json"))
    doc, meta = files.metrics, files.config.medzoo
    metrics = {name: Interval.of(iv, where=f"{where} metrics.{name}") for name, iv in doc.metrics.items()}
    _check_card_agrees(files.card_data, metrics, where=where)
    cost = doc.complexity
    gradcam = doc.gradcam
    return Row(
        entry_id=f"{ref.dataset}/{ref.name}",
        dataset=ref.dataset,
        name=ref.name,
        model=str(files.card_data.model_name or ref.name),
        architecture=meta.family or files.config.architecture.removeprefix("medzoo_") or "unknown",
        revision=ref.revision,
        primary_metric=doc.primary_metric,
        primary=metrics[doc.primary_metric],
        metrics=metrics,
        n=doc.n,
        params_m=None if cost is None else cost.params / 1e6,
        gmacs=None if cost is None else cost.gmacs,
        latency_ms=None if cost is None else cost.latency_ms.get("1"),
        latency_device=None if cost is None else cost.device,
        pointing_game=Interval.of_optional(gradcam and gradcam.pointing_game, where=f"{where} gradcam"),
        energy_in_mask=Interval.of_optional(gradcam and gradcam.energy_in_mask, where=f"{where} gradcam"),
        cross_dataset=_cross(doc, where=where),
        split_protocol=meta.split_protocol or "unknown",
        data_kind=meta.data_kind,
        published_at=meta.published_at,
        card=f"{ref.dataset}/{ref.name}/{ref.revision}/README.md",  # the zoo layout of docs/contracts.md
        images=list(files.images),
        revisions=list(ref.revisions),
        hyperparameters=_hyperparameters(files.search),
        task=meta.task,
        threshold=meta.threshold if isinstance(meta.threshold, float | int) else None,
        labels=list(files.config.label_names),
        sweep=_sweep_trial(files.search),
        library_name=meta.library_name,
        crossval=_crossval(doc),
        leak=_leak(doc, where=where),
    )


def _crossval(doc: EntryMetrics) -> CrossvalSummary | None:
    """The honest (patient-level) protocol's mean +- SD when present, else the image-level one."""
    cv = doc.crossval
    if cv is None:
        return None
    by = {p.protocol: p for p in cv.protocols if p.mean is not None}
    chosen = by.get("patient") or by.get("image")
    if chosen is None:
        return None
    return CrossvalSummary(metric=cv.metric, protocol=chosen.protocol, k=cv.k, mean=chosen.mean, sd=chosen.sd)


def _leak(doc: EntryMetrics, *, where: str) -> Interval | None:
    gap = doc.crossval.leak if doc.crossval is not None else None
    return Interval.of_optional(gap and _GapView(gap), where=f"{where} crossval.leak")


@dataclass(frozen=True)
class _GapView:
    """A ``LeakGap`` seen as an interval (``difference`` is its value)."""

    gap: Any

    @property
    def value(self) -> float | None:
        return self.gap.difference

    @property
    def ci_low(self) -> float | None:
        return self.gap.ci_low

    @property
    def ci_high(self) -> float | None:
        return self.gap.ci_high


def _cross(doc: EntryMetrics, *, where: str) -> dict[str, Interval]:
    """Cross-dataset results (the same model on another dataset), on the primary metric where reported."""
    cross: dict[str, Interval] = {}
    for other, block in doc.cross_dataset.items():
        name = doc.primary_metric if doc.primary_metric in block.metrics else next(iter(block.metrics), None)
        if name is not None:
            cross[other] = Interval.of(block.metrics[name], where=f"{where} cross_dataset.{other}.{name}")
    return cross


def _hyperparameters(search: SearchProvenance | None) -> dict[str, str]:
    """Name -> value text of the sweep's best configuration (search.json ``best_config``), shown as a table."""
    if search is None:
        return {}
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in sorted(search.best_config.items())}


def _sweep_trial(search: SearchProvenance | None) -> SweepTrial | None:
    """The entry's trial in its sweep, from search.json (its ``trial_row`` holds the validation numbers)."""
    if search is None:
        return None
    row = search.trial_row
    primary = search.primary_metric
    validation = _finite(row.get(f"val_{primary}", row.get("val_metric")))
    scalar = (str, bool, int, float)  # lists and objects are not axes; NaN / inf become "not recorded"
    config = {
        k.removeprefix("config."): _finite(v) if isinstance(v, float) else v
        for k, v in row.items()
        if k.startswith("config.") and (v is None or isinstance(v, scalar))
    } or {
        k: _finite(v) if isinstance(v, float) else v
        for k, v in search.best_config.items()
        if isinstance(v, scalar)
    }
    slug = re.sub(r"[^a-z0-9_.-]+", "-", search.run_name.lower()).strip("-._")[:48] or "run"
    digest = hashlib.sha256(search.run.encode("utf-8")).hexdigest()[:8]
    return SweepTrial(
        run=search.run,
        run_name=search.run_name,
        slug=f"{slug}-{digest}",
        trial_id=search.trial_id,
        primary_metric=primary,
        mode=search.mode,
        trials=search.trials,
        search=search.search,
        scheduler=search.scheduler,
        started=search.started,
        config=dict(sorted(config.items())),
        validation=validation,
        test=_finite(row.get(f"test_{primary}")),
    )


def _finite(value: Any) -> float | None:
    import math

    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _check_card_agrees(card: Any, metrics: dict[str, Interval], *, where: str) -> None:
    """The card is the source of truth: its model-index numbers must match metrics.json."""
    from medzoo.formats.entry import medzoo_metric_of

    readme = where.removesuffix("metrics.json") + "README.md"
    for result in card.eval_results or []:
        name, value = medzoo_metric_of(result.metric_type, result.metric_args), result.metric_value
        if name not in metrics or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if abs(float(value) - metrics[name].value) > _CARD_TOLERANCE:
            raise ZooError(
                f"{readme} says {name}={value} but {where} says "
                f"{metrics[name].value}; card and metrics.json must agree",
                fix="re-publish the entry so the card is regenerated from its metrics",
            )


def __getattr__(name: str) -> Any:
    """``BOARD_DATASETS``: derived from the dataset registry when first asked for."""
    if name == "BOARD_DATASETS":
        return board_dataset_ids()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


def _opt_interval(v: Any, *, where: str) -> Interval | None:
    return None if v is None else Interval.parse(v, where=where)


def _primary_metric(rows: list[Row], dataset_id: str) -> str:
    """The metric most entries of the board call primary (ties broken by name); with no entries, the
    dataset spec's own primary metric."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.primary_metric] = counts.get(r.primary_metric, 0) + 1
    if counts:
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    from medzoo import datasets

    try:
        return datasets.get(dataset_id).primary_metric
    except UnknownNameError:
        return "accuracy"


def _check_sort_key(key: str, rows: list[Row], primary: str) -> None:
    known = sorted(
        {primary, *COST_KEYS}
        | {m for r in rows for m in r.metrics}
        | {d for r in rows for d in r.cross_dataset}
    )
    if key not in known:
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(f"cannot sort by {key!r}{hint} (this board has: {', '.join(known)})")


def _higher_is_better(key: str) -> bool:
    return key not in LOWER_IS_BETTER


def _sort_value(row: Row, key: str) -> Scored | None:
    if key in row.metrics:
        return row.metrics[key].scored()
    if key in row.cross_dataset:
        return row.cross_dataset[key].scored()
    simple = {"params": row.params_m, "gmacs": row.gmacs, "latency": row.latency_ms}
    if key in simple:
        return None if simple[key] is None else Scored(simple[key])
    if key == "pointing_game":
        return None if row.pointing_game is None else row.pointing_game.scored()
    if key == "date":
        return Scored(_date_ordinal(row.published_at)) if row.published_at else None
    return None


def _date_ordinal(iso: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _rank(rows: list[Row], key: str, higher: bool) -> list[Row]:
    """Rank one data kind's rows by ``key``; rows without that value go last, unranked."""
    scored = [(r, _sort_value(r, key)) for r in rows]
    have = [(r, s) for r, s in scored if s is not None]
    missing = [r for r, s in scored if s is None]
    order, labels = rank_with_ties([s for _, s in have], higher_is_better=higher)
    ranked = []
    for i, label in zip(order, labels, strict=True):
        row = have[i][0]
        row.rank = label
        ranked.append(row)
    for row in missing:
        row.rank = "-"
    front = pareto_front([None if r.gmacs is None else (r.primary.value, r.gmacs) for r in rows])
    for row, on in zip(rows, front, strict=True):
        row.pareto = on
    return ranked + missing


def _reference_rows(dataset_id: str) -> list[ReferenceRow]:
    """The studies' own numbers for ``dataset_id``, with their cross-dataset results on evaluation-only
    datasets (matched by recipe and architecture)."""
    from medzoo.zoo.entries.reported import paper_reported

    cross_by_arch: dict[tuple[str, str], dict[str, float]] = {}
    for other in eval_only_ids():
        for r in paper_reported(other):
            if "accuracy" in r["metrics"]:
                cross_by_arch.setdefault((r["recipe"], r["architecture"]), {})[other] = r["metrics"][
                    "accuracy"
                ]
    return [
        ReferenceRow(
            study=r["study"],
            recipe=r["recipe"],
            architecture=r["architecture"],
            variant=r.get("variant"),
            metrics=dict(r["metrics"]),
            params_m=r.get("params_m"),
            gflops=r.get("gflops"),
            protocol=r["protocol"],
            cross_dataset=cross_by_arch.get((r["recipe"], r["architecture"]), {}),
            label=r.get("label", "paper-reported"),
        )
        for r in paper_reported(dataset_id)
    ]
