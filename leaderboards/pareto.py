"""The accuracy-versus-cost plot as hand-written SVG: no matplotlib, no fonts, no scripts.

Every text node goes through ``xml.sax.saxutils.escape``; names are user input.
GMACs go on a log axis when they span more than a factor of 20.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from xml.sax.saxutils import escape, quoteattr

from medzoo.leaderboards.board import Board, Row
from medzoo.leaderboards.ranking import pareto_front

W, H = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 30, 55
COLOURS = {"real": "#1a9e5a", "phantom": "#c28f00", "unknown": "#6b7280"}
#: the cost axes the plot offers: key -> (axis label, how a row gives it)
COSTS: dict[str, tuple[str, Callable[[Row], float | None]]] = {
    "gmacs": ("GMACs per image", lambda r: r.gmacs),
    "params": ("parameters (M)", lambda r: r.params_m),
}


def pareto_svg(board: Board, *, x: str = "gmacs", href: Callable[[Row], str] | None = None) -> str:
    """An SVG document: one point per entry with a known cost ``x`` (gmacs or params), the front of each
    data kind drawn as a line. With ``href``, each point is a link to its entry page carrying the
    entry's name and numbers as data attributes (the board's script shows them on hover)."""
    label, cost = COSTS[x]
    rows = [r for r in board.rows if (cost(r) or 0) > 0]
    on_front = _fronts(rows, cost)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        f'font-family="sans-serif" font-size="12" class="pareto-plot" data-x="{x}">',
        f"<title>{escape(board.dataset)}: {escape(board.primary_metric)} versus {escape(label)}</title>",
        f'<rect x="0" y="0" width="{W}" height="{H}" fill="#ffffff"/>',
    ]
    if not rows:
        parts.append(
            f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" fill="#5b6478">'
            f"no entry reports {escape(label)} yet</text></svg>"
        )
        return "\n".join(parts)
    xs = [cost(r) for r in rows]
    ys = [v for r in rows for v in (r.primary.ci_low, r.primary.value, r.primary.ci_high) if v is not None]
    log = max(xs) / min(xs) > 20
    x0, x1 = _pad(min(xs), max(xs), log)
    y0, y1 = _pad(min(ys), max(ys), False)
    if min(ys) >= 0.0 and max(ys) <= 1.0:  # a fraction: keep the axis inside [0, 1]
        y0, y1 = max(y0, 0.0), min(y1, 1.0)

    def px(x: float) -> float:
        t = (
            (math.log10(x) - math.log10(x0)) / (math.log10(x1) - math.log10(x0))
            if log
            else (x - x0) / (x1 - x0)
        )
        return LEFT + t * (W - LEFT - RIGHT)

    def py(y: float) -> float:
        return H - BOTTOM - (y - y0) / (y1 - y0) * (H - TOP - BOTTOM)

    parts += _axes(x0, x1, y0, y1, log, px, py, board.primary_metric, label)
    for kind in board.data_kinds:
        front = sorted((r for r in rows if r.data_kind == kind and on_front[id(r)]), key=cost)
        if len(front) > 1:
            pts = " ".join(f"{px(cost(r)):.1f},{py(r.primary.value):.1f}" for r in front)
            parts.append(
                f'<polyline points="{pts}" fill="none" stroke="{COLOURS[kind]}" stroke-width="1.5" '
                'stroke-dasharray="4 3"/>'
            )
    for r in rows:
        parts.append(_point(r, px, py, cost=cost(r), label=label, front=on_front[id(r)], href=href))
    legend_y = TOP - 12
    for i, kind in enumerate(board.data_kinds):
        x = LEFT + i * 170
        parts.append(
            f'<circle cx="{x + 5}" cy="{legend_y - 4}" r="5" fill="{COLOURS[kind]}"/>'
            f'<text x="{x + 14}" y="{legend_y}">{escape(kind)} (filled = Pareto front)</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _fronts(rows: list[Row], cost: Callable[[Row], float | None]) -> dict[int, bool]:
    """Whether each row is on the accuracy-versus-cost front of its own data kind."""
    out: dict[int, bool] = {}
    for kind in {r.data_kind for r in rows}:
        mine = [r for r in rows if r.data_kind == kind]
        for r, on in zip(mine, pareto_front([(r.primary.value, cost(r)) for r in mine]), strict=True):
            out[id(r)] = on
    return out


def _point(r: Row, px, py, *, cost: float, label: str, front: bool, href: Callable[[Row], str] | None) -> str:
    colour = COLOURS[r.data_kind]
    x, y = px(cost), py(r.primary.value)
    out = []
    if r.primary.ci_low is not None and r.primary.ci_high is not None:
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{py(r.primary.ci_low):.1f}" '
            f'y2="{py(r.primary.ci_high):.1f}" stroke="{colour}" stroke-opacity="0.5"/>'
        )
    fill = colour if front else "#ffffff"
    tip = f"{r.model} ({r.entry_id}): {r.primary_metric} {r.primary.value:.3f} at {cost:.3g} {label}"
    circle = (
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{fill}" stroke="{colour}" stroke-width="2">'
        f"<title>{escape(tip)}</title></circle>"
    )
    if href is None:
        out.append(circle)
    else:
        attrs = {"href": href(r), "data-entry": r.entry_id, "data-model": r.model, "data-tip": tip}
        out.append(
            '<a class="pt"' + "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items()) + f">{circle}</a>"
        )
    label = r.name if len(r.name) <= 24 else r.name[:23] + "…"
    right = x > W * 0.7  # labels near the right edge grow leftwards so they stay inside the plot
    out.append(
        f'<text x="{x - 8 if right else x + 8:.1f}" y="{y - 6:.1f}" fill="#1d2433" pointer-events="none" '
        f'text-anchor="{"end" if right else "start"}">{escape(label)}</text>'
    )
    return "".join(out)


def _pad(lo: float, hi: float, log: bool) -> tuple[float, float]:
    if log:
        return lo / 1.5, hi * 1.5
    span = hi - lo or max(abs(hi), 1.0) * 0.1
    return lo - 0.08 * span, hi + 0.08 * span


def _axes(x0, x1, y0, y1, log, px, py, metric: str, xlabel: str) -> list[str]:
    out = [
        f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" stroke="#1d2433"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}" stroke="#1d2433"/>',
    ]
    if log:
        ticks = [
            10.0**k
            for k in range(math.floor(math.log10(x0)), math.ceil(math.log10(x1)) + 1)
            if x0 <= 10.0**k <= x1
        ]
    else:
        ticks = [x0 + i * (x1 - x0) / 5 for i in range(6)]
    for t in ticks:
        out.append(
            f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{H - BOTTOM}" y2="{H - BOTTOM + 5}" stroke="#1d2433"/>'
            f'<text x="{px(t):.1f}" y="{H - BOTTOM + 18}" text-anchor="middle">{_tick(t)}</text>'
        )
    for i in range(6):
        t = y0 + i * (y1 - y0) / 5
        out.append(
            f'<line x1="{LEFT - 5}" x2="{LEFT}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#1d2433"/>'
            f'<text x="{LEFT - 8}" y="{py(t) + 4:.1f}" text-anchor="end">{t:.3f}</text>'
        )
    out.append(
        f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 12}" text-anchor="middle">'
        f"{escape(xlabel)}{' (log scale)' if log else ''}</text>"
    )
    out.append(
        f'<text transform="translate(16 {(TOP + H - BOTTOM) / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(metric)} (95% CI)</text>"
    )
    return out


def _tick(t: float) -> str:
    return f"{t:.3g}" if t >= 0.01 else f"{t:.1e}"
