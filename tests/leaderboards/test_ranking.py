"""The tie rule and the Pareto front, on plain numbers."""

from __future__ import annotations

from medzoo.leaderboards.ranking import Scored, pareto_front, rank_with_ties


def test_overlapping_intervals_share_a_rank_and_the_next_rank_counts_rows_above() -> None:
    scores = [Scored(0.80, 0.78, 0.83), Scored(0.90, 0.85, 0.95), Scored(0.88, 0.84, 0.92)]
    order, labels = rank_with_ties(scores)
    assert order == [1, 2, 0]
    assert labels == ["=1", "=1", "3"]


def test_ties_do_not_chain_through_a_middle_row() -> None:
    # A overlaps B and B overlaps C, but A and C are disjoint: C must not share A's rank
    a, b, c = Scored(0.90, 0.86, 0.94), Scored(0.85, 0.81, 0.89), Scored(0.80, 0.76, 0.84)
    _, labels = rank_with_ties([a, b, c])
    assert labels == ["=1", "=1", "3"]


def test_disjoint_intervals_give_a_strict_order() -> None:
    scores = [Scored(0.7, 0.69, 0.71), Scored(0.9, 0.89, 0.91), Scored(0.8, 0.79, 0.81)]
    order, labels = rank_with_ties(scores)
    assert order == [1, 2, 0] and labels == ["1", "2", "3"]


def test_lower_is_better_and_values_without_intervals_tie_only_when_equal() -> None:
    order, labels = rank_with_ties(
        [Scored(3.0), Scored(1.0), Scored(1.0), Scored(2.0)], higher_is_better=False
    )
    assert order == [1, 2, 3, 0]
    assert labels == ["=1", "=1", "3", "4"]


def test_pareto_front_keeps_only_undominated_points() -> None:
    # (metric higher better, GMACs lower better)
    points = [(0.93, 1.0), (0.90, 0.4), (0.80, 15.0), (0.93, 2.0), None, (0.95, 30.0)]
    assert pareto_front(points) == [True, True, False, False, False, True]
