"""Selection on a small validation split: the one-standard-error rule, then one trial per family first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from medzoo.search.results import _ranked, validation_sizes


def _row(tid: str, val: float, gmacs: float, family: str, **extra: object) -> dict[str, object]:
    return {
        "trial_id": tid,
        "status": "TERMINATED",
        "has_weights": True,
        "val_metric": val,
        "gmacs": gmacs,
        "config.family": family,
        **extra,
    }


ROWS = [
    _row("big", 0.80, 0.050, "small_cnn"),
    _row("big2", 0.78, 0.050, "small_cnn"),
    _row("cheap", 0.76, 0.004, "tiny_effnet"),
    _row("mid", 0.60, 0.020, "tiny_resnet"),
    _row("failed", 0.99, 0.001, "tiny_resnet", status="ERROR"),
    _row("no-weights", 0.99, 0.001, "tiny_resnet", has_weights=False),
]


def test_a_cheaper_model_within_one_standard_error_of_the_best_is_selected() -> None:
    # 100 validation images: SE of 0.80 is 0.04, so 0.76 ties with it and the cheaper model wins
    order = [r["trial_id"] for r in _ranked(ROWS, val_sizes={None: 100})]
    assert order == ["cheap", "big", "mid", "big2"]


def test_with_enough_validation_data_the_highest_value_is_selected() -> None:
    # 10,000 images: SE 0.004, nothing ties with 0.80; then one trial of each other family, then the rest
    order = [r["trial_id"] for r in _ranked(ROWS, val_sizes={None: 10_000})]
    assert order == ["big", "cheap", "mid", "big2"]
    assert [r["trial_id"] for r in _ranked(ROWS)] == order  # sizes unknown: no ties assumed


def test_validation_sizes_are_the_rows_the_trials_saw(prepared_phantom: Callable[[str], Path]) -> None:
    from medzoo import datasets

    prepared = prepared_phantom("figshare-brain")
    n_val = len(datasets.open(prepared, split="val"))
    assert validation_sizes(prepared, limit=None, sequences={None}) == {None: n_val}
    assert validation_sizes(prepared, limit=5, sequences={None}) == {None: 5}
    assert validation_sizes(prepared.parent / "missing", limit=None, sequences={None}) == {}
