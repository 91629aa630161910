"""Number formatting shared by every view, so the terminal, Markdown and HTML agree."""

from __future__ import annotations

from medzoo.leaderboards.board import LOWER_IS_BETTER, Board, Interval

#: shown wherever phantom rows appear: their numbers measure the pipeline, not medicine
PHANTOM_NOTE = (
    "PHANTOM DATA: synthetic images; these numbers test the pipeline and say nothing about medicine."
)
DATA_KIND_TITLES = {
    "real": "Real data",
    "phantom": "Phantom data (synthetic; not a medical result)",
    "unknown": "Data kind not stated by the entry",
}


def interval(iv: Interval | None, digits: int = 3) -> str:
    if iv is None:
        return "-"
    if iv.ci_low is None or iv.ci_high is None:
        return f"{iv.value:.{digits}f}"
    return f"{iv.value:.{digits}f} [{iv.ci_low:.{digits}f}, {iv.ci_high:.{digits}f}]"


def value(iv: Interval | None, digits: int = 3) -> str:
    return "-" if iv is None else f"{iv.value:.{digits}f}"


def number(x: float | None, digits: int = 2, unit: str = "") -> str:
    return "-" if x is None else f"{x:.{digits}f}{unit}"


def latency(ms: float | None, device: str | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.1f} ms" + (f" ({device})" if device else "")


def date(iso: str) -> str:
    return iso[:10] if iso else "-"


def data_kind_banner(board: Board) -> str | None:
    """The sentence every view prints when phantom rows are on the board."""
    if "phantom" in board.data_kinds:
        return PHANTOM_NOTE
    return None


def direction(metric: str) -> str:
    """ "higher" or "lower": which way ``metric`` (or cost) is better, shown beside every column."""
    return "lower" if metric in LOWER_IS_BETTER else "higher"


def sort_label(board: Board) -> str:
    direction = "higher is better" if board.higher_is_better else "lower is better"
    return f"ranked by {board.sort} ({direction})"


def fraction(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def reference_metrics(board: Board) -> list[str]:
    """The metric columns of the paper-reported table: the board's primary metric first."""
    names = {m for r in board.reference for m in r.metrics}
    first = [board.primary_metric] if board.primary_metric in names else []
    return first + sorted(names - set(first))


_SPLITS = {
    "patient": "patient-level",
    "image": "image-level split (patients may straddle train and test)",
    "official": "official split",
}


def split(protocol: str) -> str:
    """The split protocol as a reader should see it: image-level splits always say so."""
    return _SPLITS.get(protocol, protocol)
