"""The board as rich tables: ``medzoo leaderboard show``.

Every cell is a ``rich.text.Text`` so names from cards are never read as markup.
A narrow terminal gets the essential columns only (the Markdown and HTML views
always carry all of them).
"""

from __future__ import annotations

from typing import Any

from medzoo.leaderboards import format as fmt
from medzoo.leaderboards.board import TIE_RULE, Board

#: below this many columns only the essential columns are shown
WIDE = 160


def render_terminal(board: Board, console: Any) -> None:
    """Print ``board`` on a rich ``console``: one ranked table per data kind, then the references per study."""
    from rich.table import Table
    from rich.text import Text

    wide = console.width >= WIDE
    console.print(Text(f"{board.dataset} leaderboard - {fmt.sort_label(board)}", style="bold"))
    banner = fmt.data_kind_banner(board)
    if banner:
        console.print(Text(banner, style="bold yellow"))
    if not board.rows:
        console.print(Text("No medzoo entries for this dataset yet (publish one with `medzoo publish RUN`)."))
    for kind in board.data_kinds:
        table = Table(title=Text(fmt.DATA_KIND_TITLES[kind]), title_justify="left")
        columns = _columns(board, wide)
        for title, _ in columns:
            table.add_column(Text(title), overflow="fold")
        for row in board.rows_of(kind):
            table.add_row(*[Text(cell(row)) for _, cell in columns])
        console.print(table)
    if board.rows:
        console.print(Text("Ties: " + TIE_RULE, style="dim"))
        console.print(
            Text(
                "pareto *: no other entry of the same data kind is both as accurate and cheaper (GMACs).",
                style="dim",
            )
        )
        if not wide:
            console.print(
                Text(
                    f"(narrow terminal: secondary metrics hidden; {WIDE}+ columns show them all)", style="dim"
                )
            )
    _print_references(board, console, wide)
    for problem in board.problems:
        console.print(Text(f"skipped: {problem}", style="red"))


def _print_references(board: Board, console: Any, wide: bool) -> None:
    """One table per study of its own numbers (never ranked with medzoo's rows)."""
    from rich.table import Table
    from rich.text import Text

    studies: dict[str, list] = {}
    for ref in board.reference:
        studies.setdefault(ref.study, []).append(ref)
    metrics = fmt.reference_metrics(board) if wide else fmt.reference_metrics(board)[:1]
    for study, refs in studies.items():
        table = Table(
            title=Text(f"Paper-reported, not ranked: {study}"),
            title_justify="left",
            caption=Text(f"protocol: {refs[0].protocol}"),
            caption_justify="left",
        )
        for col in (
            "architecture",
            *metrics,
            *[f"on {d}" for d in board.cross_datasets],
            "params (M)",
            "GFLOPs (paper)",
        ):
            table.add_column(Text(col), overflow="fold")
        for ref in refs:
            table.add_row(
                Text(ref.architecture + (f" ({ref.variant})" if ref.variant else "")),
                *[Text(fmt.fraction(ref.metrics.get(m))) for m in metrics],
                *[Text(fmt.fraction(ref.cross_dataset.get(d))) for d in board.cross_datasets],
                Text(fmt.number(ref.params_m)),
                Text(fmt.number(ref.gflops)),
            )
        console.print(table)


def _columns(board: Board, wide: bool) -> list[tuple[str, Any]]:
    """(header, row -> text) for each column of the ranked tables."""
    cols: list[tuple[str, Any]] = [
        ("rank", lambda r: r.rank),
        ("model", lambda r: r.model if r.model == r.entry_id else f"{r.model}\n{r.entry_id}"),
        (f"{board.primary_metric} [95% CI]", lambda r: fmt.interval(r.primary)),
    ]
    if board.has_crossval:
        cols.append(("CV mean ± SD", lambda r: r.crossval_text()))
    if board.has_leak:
        cols.append(("leak: image − patient [95% CI]", lambda r: r.leak_text()))
    if wide:
        cols.insert(2, ("architecture", lambda r: r.architecture))
        cols += [(m, _metric(m)) for m in board.secondary_metrics]
    cols += [(f"on {d}", _cross(d)) for d in board.cross_datasets]
    cols += [("params (M)", lambda r: fmt.number(r.params_m)), ("GMACs", lambda r: fmt.number(r.gmacs, 3))]
    if wide:
        cols += [
            ("latency b1", lambda r: fmt.latency(r.latency_ms, r.latency_device)),
            ("pointing game", lambda r: fmt.interval(r.pointing_game, 2)),
            ("split", lambda r: fmt.split(r.split_protocol)),
        ]
    cols += [("data", lambda r: r.data_kind.upper() if r.data_kind != "real" else "real")]
    if wide:
        cols += [("date", lambda r: fmt.date(r.published_at))]
    cols += [("pareto", lambda r: "*" if r.pareto else "")]
    return cols


def _metric(name: str) -> Any:
    return lambda r: fmt.value(r.metrics.get(name))


def _cross(dataset: str) -> Any:
    return lambda r: fmt.interval(r.cross_dataset.get(dataset))
