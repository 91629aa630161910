"""Sweep pages: one per run that produced entries on a board, from the entries' own ``search.json``.

The boards never open run folders (a hostile entry could point ``run`` anywhere);
what a sweep page shows is what the zoo published: every entry of the run
contributes its trial's row (configuration, validation and test values). The
page says how many of the run's trials that is. The plots are hand-written SVG
(no library, no script), every text escaped:

- optimisation history: validation value of each published trial in trial order,
  with the best-so-far line in the direction the sweep optimised;
- parallel coordinates: one axis per hyperparameter that varies, then the metric;
- parameter importance: for each hyperparameter, the share of the metric's
  variance explained by grouping the trials by that parameter's value (the
  correlation ratio eta squared), stated as such; it needs three trials or more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape

from medzoo.leaderboards.board import Board, Row, SweepTrial

W, H = 720, 320
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 20, 45
#: importance is only computed from this many trials up
MIN_TRIALS_FOR_IMPORTANCE = 3


@dataclass(frozen=True)
class Sweep:
    """One run's published trials, in trial order, with the rows (entries) they became."""

    dataset: str
    first: SweepTrial
    trials: tuple[tuple[SweepTrial, Row], ...]

    @property
    def slug(self) -> str:
        return self.first.slug

    @property
    def parameters(self) -> list[str]:
        """Every hyperparameter any published trial records, sorted."""
        return sorted({k for t, _ in self.trials for k in t.config})

    @property
    def varying(self) -> list[str]:
        """Hyperparameters whose value differs between the published trials."""
        return [p for p in self.parameters if len({_text(t.config.get(p)) for t, _ in self.trials}) > 1]

    @property
    def higher_is_better(self) -> bool:
        return self.first.mode != "min"


def sweeps_of(board: Board) -> list[Sweep]:
    """The sweeps (runs) behind a board's entries, each with its trials in trial-id order."""
    groups: dict[str, list[tuple[SweepTrial, Row]]] = {}
    for row in board.rows:
        if row.sweep is not None:
            groups.setdefault(row.sweep.slug, []).append((row.sweep, row))
    out = []
    for members in groups.values():
        members.sort(key=lambda tr: (tr[0].trial_id, tr[1].name))
        out.append(Sweep(dataset=board.dataset, first=members[0][0], trials=tuple(members)))
    return sorted(out, key=lambda s: (s.first.run_name, s.slug))


def importance(sweep: Sweep) -> dict[str, float] | None:
    """Per varying hyperparameter, eta squared: between-group / total variance of the validation metric.

    ``None`` when fewer than :data:`MIN_TRIALS_FOR_IMPORTANCE` trials have a value or the metric does
    not vary (nothing to explain). Numbers with more than four distinct values are grouped into
    quartiles so that a continuous parameter does not explain everything by giving each trial a group.
    """
    scored = [(t, t.validation) for t, _ in sweep.trials if t.validation is not None]
    if len(scored) < MIN_TRIALS_FOR_IMPORTANCE:
        return None
    values = [v for _, v in scored]
    mean = sum(values) / len(values)
    total = sum((v - mean) ** 2 for v in values)
    if total <= 0:
        return None
    out = {}
    for param in sweep.varying:
        groups: dict[str, list[float]] = {}
        keys = _group_keys([t.config.get(param) for t, _ in scored])
        for key, v in zip(keys, values, strict=True):
            groups.setdefault(key, []).append(v)
        between = sum(len(g) * (sum(g) / len(g) - mean) ** 2 for g in groups.values())
        out[param] = between / total
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _group_keys(values: list[object]) -> list[str]:
    nums = [v for v in values if _is_number(v)]
    if len(nums) == len(values) and len(set(nums)) > 4:
        ordered = sorted(nums)
        cuts = [ordered[int(len(ordered) * q)] for q in (0.25, 0.5, 0.75)]
        return [f"q{sum(v >= c for c in cuts)}" for v in values]
    return [_text(v) for v in values]


def history_svg(sweep: Sweep) -> str:
    """Validation value per published trial (points) and the best so far (step line)."""
    pts = [(i, t.validation, t, r) for i, (t, r) in enumerate(sweep.trials) if t.validation is not None]
    metric = f"validation {sweep.first.primary_metric}"
    head = _svg_head(f"{sweep.first.run_name}: optimisation history")
    if not pts:
        return head + _empty("no published trial records a validation value") + "</svg>"
    ys = [p[1] for p in pts]
    y0, y1 = _pad(min(ys), max(ys))
    n = max(len(sweep.trials) - 1, 1)

    def px(i: float) -> float:
        return LEFT + (i / n) * (W - LEFT - RIGHT) if len(sweep.trials) > 1 else (LEFT + W - RIGHT) / 2

    def py(y: float) -> float:
        return H - BOTTOM - (y - y0) / (y1 - y0) * (H - TOP - BOTTOM)

    parts = [head, *_frame(y0, y1, py, metric, "published trials, in trial order")]
    best: float | None = None
    steps = []
    for i, y, _, _ in pts:
        better = best is None or (y > best if sweep.higher_is_better else y < best)
        best = y if better else best
        steps.append(f"{px(i):.1f},{py(best):.1f}")
    parts.append(f'<polyline class="best" points="{" ".join(steps)}" fill="none" stroke="#1a9e5a"/>')
    for i, y, t, r in pts:
        tip = f"{t.trial_id} ({r.entry_id}): {metric} {y:.4f}"
        parts.append(
            f'<circle class="trial" cx="{px(i):.1f}" cy="{py(y):.1f}" r="5" fill="#2457c5">'
            f"<title>{escape(tip)}</title></circle>"
            f'<text x="{px(i):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{escape(t.trial_id[:12])}</text>'
        )
    return "\n".join(parts) + "\n</svg>"


def parallel_svg(sweep: Sweep) -> str:
    """Parallel coordinates: one vertical axis per varying hyperparameter, the metric last; one line a trial."""
    axes = sweep.varying
    trials = [(t, r) for t, r in sweep.trials if t.validation is not None]
    head = _svg_head(f"{sweep.first.run_name}: parallel coordinates")
    if not axes or not trials:
        why = "the published trials do not differ in any hyperparameter" if trials else "no validation values"
        return head + _empty(why) + "</svg>"
    names = [*axes, sweep.first.primary_metric]
    step = (W - LEFT - RIGHT) / max(len(names) - 1, 1)
    scales = [_axis([t.config.get(a) for t, _ in trials]) for a in axes]
    scales.append(_axis([t.validation for t, _ in trials]))
    vals = [v for t, _ in trials for v in [t.validation] if v is not None]
    lo, hi = min(vals), max(vals)
    parts = [head]
    for k, name in enumerate(names):
        x = LEFT + k * step
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{H - BOTTOM}" stroke="#1d2433"/>'
            f'<text x="{x:.1f}" y="{H - BOTTOM + 18}" text-anchor="middle" font-weight="600">{escape(name)}</text>'
        )
        for label, t in scales[k].ticks:
            parts.append(f'<text x="{x + 4:.1f}" y="{_y(t) + 4:.1f}" fill="#5b6478">{escape(label)}</text>')
    for t, r in trials:
        coords = [*(t.config.get(a) for a in axes), t.validation]
        ys = [_y(scales[k].position(v)) for k, v in enumerate(coords)]
        share = 0.5 if hi == lo else (t.validation - lo) / (hi - lo)
        good = share if sweep.higher_is_better else 1 - share
        colour = f"rgb({int(200 - 170 * good)},{int(80 + 100 * good)},{int(60 + 40 * good)})"
        pts = " ".join(f"{LEFT + k * step:.1f},{y:.1f}" for k, y in enumerate(ys))
        tip = f"{t.trial_id} ({r.entry_id}): " + ", ".join(f"{a}={_text(t.config.get(a))}" for a in axes)
        parts.append(
            f'<polyline class="trial" points="{pts}" fill="none" stroke="{colour}" stroke-width="2.5">'
            f"<title>{escape(tip)}; {escape(sweep.first.primary_metric)} {t.validation:.4f}</title></polyline>"
        )
    return "\n".join(parts) + "\n</svg>"


@dataclass(frozen=True)
class _Scale:
    """Where a value sits on one parallel axis (0 bottom .. 1 top), and the labels to draw."""

    kind: str  # "log", "linear" or "category"
    lo: float
    hi: float
    categories: tuple[str, ...]

    def position(self, v: object) -> float:
        if self.kind == "category":
            i = self.categories.index(_text(v))
            return 0.5 if len(self.categories) == 1 else i / (len(self.categories) - 1)
        x = float(v)  # type: ignore[arg-type]
        if self.kind == "log":
            x, lo, hi = math.log10(x), math.log10(self.lo), math.log10(self.hi)
        else:
            lo, hi = self.lo, self.hi
        return 0.5 if hi == lo else (x - lo) / (hi - lo)

    @property
    def ticks(self) -> list[tuple[str, float]]:
        if self.kind == "category":
            return [(c, self.position(c)) for c in self.categories]
        return [(f"{self.lo:.3g}", self.position(self.lo)), (f"{self.hi:.3g}", self.position(self.hi))]


def _axis(values: list[object]) -> _Scale:
    if values and all(_is_number(v) for v in values):
        nums = [float(v) for v in values]  # type: ignore[arg-type]
        lo, hi = min(nums), max(nums)
        kind = "log" if lo > 0 and hi / lo > 20 else "linear"
        return _Scale(kind, lo, hi, ())
    return _Scale("category", 0.0, 1.0, tuple(sorted({_text(v) for v in values})))


def _y(position: float) -> float:
    return H - BOTTOM - position * (H - TOP - BOTTOM)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "-" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def _svg_head(title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        f'font-family="sans-serif" font-size="12" role="img"><title>{escape(title)}</title>'
        f'<rect x="0" y="0" width="{W}" height="{H}" fill="#ffffff"/>'
    )


def _empty(why: str) -> str:
    return f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" fill="#5b6478">{escape(why)}</text>'


def _pad(lo: float, hi: float) -> tuple[float, float]:
    span = hi - lo or max(abs(hi), 1.0) * 0.1
    return lo - 0.1 * span, hi + 0.1 * span


def _frame(y0: float, y1: float, py, ylabel: str, xlabel: str) -> list[str]:
    out = [
        f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" stroke="#1d2433"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}" stroke="#1d2433"/>',
        f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 8}" text-anchor="middle">{escape(xlabel)}</text>',
        f'<text transform="translate(16 {(TOP + H - BOTTOM) / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(ylabel)}</text>",
    ]
    for i in range(5):
        t = y0 + i * (y1 - y0) / 4
        out.append(f'<text x="{LEFT - 8}" y="{py(t) + 4:.1f}" text-anchor="end">{t:.3f}</text>')
    return out
