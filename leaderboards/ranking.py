"""Ranking with honest ties, and the accuracy-versus-cost Pareto front.

Pure functions over plain numbers, so the rules are tested without a zoo.

Tie rule ("tie with the group leader"): rows are sorted best-first by the
ranking metric. The first row leads group 1. Each following row joins the
current group when its 95 % interval overlaps the *leader's* interval (not
merely the row just above it, which would chain: A~B and B~C would put A and C
in one tie although their intervals are disjoint). Otherwise it leads a new
group. Every row of a group shares the group's rank, which is 1 + the number of
rows ranked above the group (competition ranking: 1, =2, =2, 4), shown as "=k"
when the group has more than one row. Rows without an interval tie only with
exactly equal values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Scored:
    """One row's score on the ranking metric: value and (optional) 95 % interval."""

    value: float
    ci_low: float | None = None
    ci_high: float | None = None

    def interval(self) -> tuple[float, float]:
        low = self.value if self.ci_low is None else self.ci_low
        high = self.value if self.ci_high is None else self.ci_high
        return low, high


def overlaps(a: Scored, b: Scored) -> bool:
    """True when the closed intervals of ``a`` and ``b`` share a point."""
    a_low, a_high = a.interval()
    b_low, b_high = b.interval()
    return a_low <= b_high and b_low <= a_high


def rank_with_ties(scores: Sequence[Scored], *, higher_is_better: bool = True) -> tuple[list[int], list[str]]:
    """Order and rank ``scores`` with the tie rule of this module.

    Returns ``(order, labels)``: ``order`` lists indices into ``scores`` best-first
    (stable for equal values); ``labels[k]`` is the rank label of ``order[k]``
    ("1", "=2", ...).
    """
    sign = -1.0 if higher_is_better else 1.0
    order = sorted(range(len(scores)), key=lambda i: sign * scores[i].value)
    groups: list[list[int]] = []
    for i in order:
        if groups and overlaps(scores[groups[-1][0]], scores[i]):
            groups[-1].append(i)
        else:
            groups.append([i])
    labels: list[str] = []
    above = 0
    for group in groups:
        rank = above + 1
        labels.extend([f"={rank}" if len(group) > 1 else str(rank)] * len(group))
        above += len(group)
    return order, labels


def pareto_front(points: Sequence[tuple[float, float] | None]) -> list[bool]:
    """Which points are Pareto-optimal for (metric: higher better, cost: lower better).

    A point is on the front when no other point is at least as good on both axes
    and strictly better on one. ``None`` (unknown cost or metric) is never on it.
    """
    flags: list[bool] = []
    for i, p in enumerate(points):
        if p is None:
            flags.append(False)
            continue
        metric, cost = p
        dominated = any(
            q is not None and j != i and q[0] >= metric and q[1] <= cost and (q[0] > metric or q[1] < cost)
            for j, q in enumerate(points)
        )
        flags.append(not dominated)
    return flags
