"""A per-dataset leaderboard, built only from what the zoo publishes.

Each row comes from one zoo entry (latest revision): the model card (README.md
front matter, read with huggingface_hub) names the model and states the headline
number, metrics.json gives the intervals and costs, config.json's ``medzoo``
section gives date, data kind and split protocol. The studies' own numbers
(``medzoo.zoo.paper_reported``) ride along as reference rows that are never
ranked with medzoo's results. An unreadable entry does not sink the board: it is
listed in ``Board.problems`` with the file and the reason, and every view shows it.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medzoo.errors import UnknownNameError, ZooError
from medzoo.leaderboards.ranking import Scored, pareto_front, rank_with_ties

#: the datasets that get a board (kaggle-brain-mri is a cross-dataset column of figshare-brain)
BOARD_DATASETS = ("figshare-brain", "all-leukemia", "cbis-ddsm-mass", "brats19-grade", "chestxray14")
#: metrics and costs where a smaller number is the better one
LOWER_IS_BETTER = frozenset({"ece", "brier", "log_loss", "loss", "params", "gmacs", "latency"})
#: sort keys that are not metric names
COST_KEYS = ("params", "gmacs", "latency", "pointing_game", "date")
#: order in which data kinds are listed; each kind is ranked on its own
DATA_KIND_ORDER = ("real", "phantom", "unknown")
#: the entry folders whose images the views show and copy
IMAGE_DIRS = ("plots", "gradcam")
#: files of plots/ and gradcam/ that the views show
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})  # no SVG: it can carry script
#: a card and metrics.json may differ by rounding only
_CARD_TOLERANCE = 5e-4


@dataclass(frozen=True)
class Interval:
    """A metric value with its 95 % bootstrap interval (bounds ``None`` when not reported)."""

    value: float
    ci_low: float | None = None
    ci_high: float | None = None

    @classmethod
    def parse(cls, obj: Any, *, where: str) -> Interval:
        if isinstance(obj, int | float) and not isinstance(obj, bool):
            return cls(float(obj))
        if not isinstance(obj, dict) or "value" not in obj:
            raise ZooError(f"{where}: a metric must be a number or {{value, ci_low, ci_high}}, got {obj!r}")
        try:
            value = float(obj["value"])
            low = None if obj.get("ci_low") is None else float(obj["ci_low"])
            high = None if obj.get("ci_high") is None else float(obj["ci_high"])
        except (TypeError, ValueError):
            raise ZooError(f"{where}: metric values must be numbers, got {obj!r}") from None
        if not math.isfinite(value):
            raise ZooError(f"{where}: metric value must be finite, got {value}")
        if low is not None and high is not None and not low <= value <= high:
            raise ZooError(
                f"{where}: ci_low <= value <= ci_high must hold, got ci_low={low}, value={value}, ci_high={high}"
            )
        return cls(value, low, high)

    def scored(self) -> Scored:
        return Scored(self.value, self.ci_low, self.ci_high)


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


def table(dataset_id: str, *, zoo: str | Path, sort: str | None = None) -> Board:
    """The leaderboard of ``dataset_id`` from the entries in ``zoo``.

    ``sort`` ranks by another metric (any metric the entries report, or
    params / gmacs / latency / pointing_game / date); the default is the primary
    metric of the dataset's entries. Paper-reported rows are attached unranked.
    """
    from medzoo import zoo as zoo_api

    zoo = Path(zoo)
    rows: list[Row] = []
    problems: list[str] = []
    infos = zoo_api.list(zoo=zoo, dataset=dataset_id)
    if not infos:
        from medzoo import datasets

        datasets.get(dataset_id)  # a typo in the id raises here, with the close matches
    for info in infos:
        try:
            rows.append(read_row(info))
        except ZooError as exc:
            problems.append(f"{info.id}: {exc.message}")
    primary = _primary_metric(rows, dataset_id)
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
    rows = kept
    sort_key = sort or primary
    _check_sort_key(sort_key, rows, primary)
    higher = _higher_is_better(sort_key)
    ranked: list[Row] = []
    for kind in DATA_KIND_ORDER:
        group = [r for r in rows if r.data_kind == kind]
        ranked.extend(_rank(group, sort_key, higher))
    metric_names = sorted({m for r in rows for m in r.metrics} - {primary})
    cross = sorted({d for r in rows for d in r.cross_dataset})
    reference = _reference_rows(dataset_id)
    if reference and any(r.cross_dataset for r in reference):
        cross = sorted(set(cross) | {d for r in reference for d in r.cross_dataset})
    return Board(
        dataset=dataset_id,
        primary_metric=primary,
        sort=sort_key,
        higher_is_better=higher,
        rows=ranked,
        reference=reference,
        problems=problems,
        secondary_metrics=metric_names,
        cross_datasets=cross,
    )


def read_row(info: Any) -> Row:
    """One board row from a zoo entry (``medzoo.zoo.list`` item); ZooError names the bad file."""
    path = Path(info.path)
    metrics_doc = _read_json(path / "metrics.json")
    config = _read_json(path / "config.json")
    meta = config.get("medzoo") or {}
    card_data, _ = read_card(path)

    where = f"{path / 'metrics.json'}"
    raw_metrics = metrics_doc.get("metrics")
    if not isinstance(raw_metrics, dict) or not raw_metrics:
        raise ZooError(f"{where}: must hold a non-empty 'metrics' object, found {type(raw_metrics).__name__}")
    metrics = {name: Interval.parse(v, where=f"{where} metrics.{name}") for name, v in raw_metrics.items()}
    primary_name = metrics_doc.get("primary_metric")
    if primary_name not in metrics:
        raise ZooError(
            f"{where}: primary_metric must name one of its metrics ({', '.join(sorted(metrics))}), "
            f"got {primary_name!r}"
        )
    _check_card_agrees(card_data, metrics, path)

    complexity = metrics_doc.get("complexity") or {}
    params = complexity.get("params")
    latency = (complexity.get("latency_ms") or {}).get("1")
    gradcam = metrics_doc.get("gradcam") or {}
    cross: dict[str, Interval] = {}
    for other, block in (metrics_doc.get("cross_dataset") or {}).items():
        other_metrics = (block or {}).get("metrics") or {}
        name = primary_name if primary_name in other_metrics else next(iter(other_metrics), None)
        if name is not None:
            cross[other] = Interval.parse(other_metrics[name], where=f"{where} cross_dataset.{other}.{name}")
    family = meta.get("family") or str(config.get("architecture", "")).removeprefix("medzoo_")
    model_name = card_data.model_name or info.name
    images = sorted(
        p.relative_to(path).as_posix()
        for sub in IMAGE_DIRS
        if (path / sub).is_dir()
        for p in (path / sub).rglob("*")
        if p.is_file()
        and not p.is_symlink()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and p.resolve().is_relative_to(path.resolve())
    )
    return Row(
        entry_id=f"{info.dataset}/{info.name}",
        dataset=info.dataset,
        name=info.name,
        model=str(model_name),
        architecture=family or "unknown",
        revision=str(info.revision),
        primary_metric=primary_name,
        primary=metrics[primary_name],
        metrics=metrics,
        n=metrics_doc.get("n"),
        params_m=None if params is None else float(params) / 1e6,
        gmacs=_opt_float(complexity.get("gmacs")),
        latency_ms=_opt_float(latency),
        latency_device=complexity.get("device"),
        pointing_game=_opt_interval(gradcam.get("pointing_game"), where=f"{where} gradcam.pointing_game"),
        energy_in_mask=_opt_interval(gradcam.get("energy_in_mask"), where=f"{where} gradcam.energy_in_mask"),
        cross_dataset=cross,
        split_protocol=str(meta.get("split_protocol") or "unknown"),
        data_kind=meta.get("data_kind") if meta.get("data_kind") in ("real", "phantom") else "unknown",
        published_at=str(meta.get("published_at") or getattr(info, "published_at", "") or ""),
        card=f"{info.dataset}/{info.name}/{info.revision}/README.md",  # the zoo layout of docs/contracts.md
        images=images,
    )


def read_card(path: Path) -> tuple[Any, str]:
    """(``ModelCardData``, Markdown body) of the README.md in the entry folder ``path``."""
    from huggingface_hub import ModelCard

    readme = path / "README.md"
    if not readme.is_file():
        raise ZooError(
            f"{readme}: the model card is missing; every zoo entry must have one",
            fix=f"medzoo publish RUN (re-publish the entry in {path})",
        )
    try:
        card = ModelCard.load(readme, ignore_metadata_errors=True)
    except Exception as exc:  # huggingface_hub raises several types for malformed YAML
        raise ZooError(f"{readme}: the model card's YAML front matter cannot be read ({exc})") from None
    return card.data, card.text


def _check_card_agrees(card: Any, metrics: dict[str, Interval], path: Path) -> None:
    """The card is the source of truth: its model-index numbers must match metrics.json."""
    for result in card.eval_results or []:
        name, value = result.metric_type, result.metric_value
        if name not in metrics or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if abs(float(value) - metrics[name].value) > _CARD_TOLERANCE:
            raise ZooError(
                f"{path / 'README.md'} says {name}={value} but {path / 'metrics.json'} says "
                f"{metrics[name].value}; card and metrics.json must agree",
                fix="re-publish the entry so the card is regenerated from its metrics",
            )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZooError(f"{path} is missing; every zoo entry must have it") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ZooError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ZooError(f"{path} must hold a JSON object, found {type(doc).__name__}")
    return doc


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
    from medzoo.zoo.entries.reported import paper_reported

    cross_by_arch: dict[tuple[str, str], dict[str, float]] = {}
    if dataset_id == "figshare-brain":
        for r in paper_reported("kaggle-brain-mri"):
            if "accuracy" in r["metrics"]:
                cross_by_arch[(r["recipe"], r["architecture"])] = {
                    "kaggle-brain-mri": r["metrics"]["accuracy"]
                }
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
