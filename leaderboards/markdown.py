"""The board as GitHub-flavoured Markdown (``SITE/<dataset>.md``).

Cell text is escaped for tables (``|``) and for HTML (``<``, ``>``, ``&``), because
Markdown renderers pass raw HTML through and model names are user input.
"""

from __future__ import annotations

import html

from medzoo.leaderboards import format as fmt
from medzoo.leaderboards.board import TIE_RULE, Board, Row


def cell(text: str) -> str:
    """Escape one table cell: HTML entities, pipes, newlines and Markdown emphasis/link syntax."""
    out = html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")
    for ch in "*_`[]":
        out = out.replace(ch, "\\" + ch)
    return out


class Raw(str):
    """A cell that is Markdown already (a link built from escaped parts)."""


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c if isinstance(c, Raw) else cell(c) for c in row) + " |" for row in rows]
    return lines


def to_markdown(board: Board, *, card_links: dict[str, str] | None = None) -> str:
    """Markdown for ``board``; ``card_links`` maps entry ids to the link target of their card."""
    lines = [f"# {cell(board.dataset)} leaderboard", "", f"_{cell(fmt.sort_label(board))}_", ""]
    banner = fmt.data_kind_banner(board)
    if banner:
        lines += [f"> **{cell(banner)}**", ""]
    if not board.rows:
        lines += ["No medzoo entries for this dataset yet.", ""]
    for kind in board.data_kinds:
        rows = [_row_cells(board, r, (card_links or {}).get(r.entry_id, r.card)) for r in board.rows_of(kind)]
        lines += [f"## {fmt.DATA_KIND_TITLES[kind]}", "", *_table(_header(board), rows), ""]
    if board.rows:
        lines += [
            f"Ties: {cell(TIE_RULE)}",
            "",
            "Pareto: no other entry of the same data kind is both as accurate and cheaper (GMACs).",
            "",
        ]
    if board.reference:
        lines += ["## Paper-reported (the studies' own numbers and protocols; not ranked)", ""]
        lines += [*_reference_table(board), ""]
    if board.problems:
        lines += ["## Entries that could not be read", ""] + [f"- {cell(p)}" for p in board.problems] + [""]
    return "\n".join(lines)


def _header(board: Board) -> list[str]:
    return [
        "rank",
        "model",
        "architecture",
        f"{board.primary_metric} [95% CI]",
        *(["CV mean ± SD"] if board.has_crossval else []),
        *(["leak: image − patient [95% CI]"] if board.has_leak else []),
        *board.secondary_metrics,
        *[f"{d} (cross-dataset)" for d in board.cross_datasets],
        "params (M)",
        "GMACs",
        "latency b1",
        "pointing game",
        "split",
        "data",
        "date",
        "pareto",
        "card",
    ]


def _row_cells(board: Board, r: Row, link: str) -> list[str]:
    return [
        r.rank,
        f"{r.model} ({r.entry_id})",
        r.architecture,
        fmt.interval(r.primary),
        *([r.crossval_text()] if board.has_crossval else []),
        *([r.leak_text()] if board.has_leak else []),
        *[fmt.value(r.metrics.get(m)) for m in board.secondary_metrics],
        *[fmt.interval(r.cross_dataset.get(d)) for d in board.cross_datasets],
        fmt.number(r.params_m),
        fmt.number(r.gmacs, 3),
        fmt.latency(r.latency_ms, r.latency_device),
        fmt.interval(r.pointing_game, 2),
        fmt.split(r.split_protocol),
        r.data_kind,
        fmt.date(r.published_at),
        "yes" if r.pareto else "",
        Raw(f"[card](<{_url(link)}>)"),
    ]


def _reference_table(board: Board) -> list[str]:
    metrics = fmt.reference_metrics(board)
    header = [
        "study",
        "architecture",
        *metrics,
        *[f"{d} (cross-dataset)" for d in board.cross_datasets],
        "params (M)",
        "GFLOPs (paper)",
        "protocol",
    ]
    rows = [
        [
            r.study,
            r.architecture + (f" ({r.variant})" if r.variant else ""),
            *[fmt.fraction(r.metrics.get(m)) for m in metrics],
            *[fmt.fraction(r.cross_dataset.get(d)) for d in board.cross_datasets],
            fmt.number(r.params_m),
            fmt.number(r.gflops),
            r.protocol,
        ]
        for r in board.reference
    ]
    return _table(header, rows)


def _url(link: str) -> str:
    """A link target safe inside ``<...>``: no angle brackets, spaces or newlines."""
    return "".join(c if c not in "<> \n\r" else f"%{ord(c):02X}" for c in link)
