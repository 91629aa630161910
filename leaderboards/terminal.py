"""The board as rich tables: ``medzoo leaderboard show``.

Every cell is a ``rich.text.Text`` so names from cards are never read as markup.
"""

from __future__ import annotations

from typing import Any

from medzoo.leaderboards import format as fmt
from medzoo.leaderboards.board import TIE_RULE, Board


def render_terminal(board: Board, console: Any) -> None:
    """Print ``board`` on a rich ``console``: one ranked table per data kind, then the references."""
    from rich.table import Table
    from rich.text import Text

    console.print(Text(f"{board.dataset} leaderboard - {fmt.sort_label(board)}", style="bold"))
    banner = fmt.data_kind_banner(board)
    if banner:
        console.print(Text(banner, style="bold yellow"))
    if not board.rows:
        console.print(Text("No medzoo entries for this dataset yet (publish one with `medzoo publish RUN`)."))
    for kind in board.data_kinds:
        table = Table(title=Text(fmt.DATA_KIND_TITLES[kind]), title_justify="left", show_lines=False)
        for col in ("rank", "model", "architecture", f"{board.primary_metric} [95% CI]",
                    *board.secondary_metrics, *[f"{d} (cross-dataset)" for d in board.cross_datasets],
                    "params (M)", "GMACs", "latency b1", "pointing game", "split", "data", "date", "pareto"):
            table.add_column(Text(col), overflow="fold")
        for r in board.rows_of(kind):
            table.add_row(
                Text(r.rank),
                Text(r.model if r.model == r.entry_id else f"{r.model}\n{r.entry_id}"),
                Text(r.architecture),
                Text(fmt.interval(r.primary)),
                *[Text(fmt.value(r.metrics.get(m))) for m in board.secondary_metrics],
                *[Text(fmt.interval(r.cross_dataset.get(d))) for d in board.cross_datasets],
                Text(fmt.number(r.params_m)),
                Text(fmt.number(r.gmacs, 3)),
                Text(fmt.latency(r.latency_ms, r.latency_device)),
                Text(fmt.interval(r.pointing_game, 2)),
                Text(r.split_protocol),
                Text(r.data_kind.upper() if r.data_kind != "real" else "real"),
                Text(fmt.date(r.published_at)),
                Text("*" if r.pareto else ""),
            )
        console.print(table)
    if board.rows:
        console.print(Text("Ties: " + TIE_RULE, style="dim"))
        console.print(Text("pareto *: no other entry of the same data kind is both as accurate and cheaper (GMACs).",
                           style="dim"))
    if board.reference:
        ref = Table(title=Text("Paper-reported (the studies' own numbers and protocols; not ranked)"),
                    title_justify="left")
        for col in ("study", "architecture", *fmt.reference_metrics(board), *[f"{d} (cross-dataset)" for d in board.cross_datasets],
                    "params (M)", "GFLOPs (paper)", "protocol"):
            ref.add_column(Text(col), overflow="fold")
        for r in board.reference:
            arch = r.architecture + (f" ({r.variant})" if r.variant else "")
            ref.add_row(
                Text(r.study), Text(arch),
                *[Text(fmt.fraction(r.metrics.get(m))) for m in fmt.reference_metrics(board)],
                *[Text(fmt.fraction(r.cross_dataset.get(d))) for d in board.cross_datasets],
                Text(fmt.number(r.params_m)), Text(fmt.number(r.gflops)), Text(r.protocol),
            )
        console.print(ref)
    for problem in board.problems:
        console.print(Text(f"skipped: {problem}", style="red"))
