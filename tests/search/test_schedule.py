"""Early stopping and the learning-rate schedule, with their JSON state."""

from __future__ import annotations

import json
import math

import pytest

from medzoo.search.schedule import EarlyStopping, LRSchedule


def test_early_stopping_waits_patience_epochs_and_remembers_the_best() -> None:
    es = EarlyStopping("val_metric", patience=2, min_delta=0.01)
    seen = [es.step(v, e) for e, v in enumerate([0.5, 0.6, 0.605, 0.59], start=1)]
    assert seen == [True, True, False, False]
    assert es.should_stop and es.best == 0.6 and es.best_epoch == 2
    loss = EarlyStopping("val_loss", patience=None)
    for e, v in enumerate([1.0, 0.8, 0.9, float("nan")], start=1):
        loss.step(v, e)
    assert loss.best == 0.8 and loss.best_epoch == 2 and not loss.should_stop
    restored = EarlyStopping("val_metric", patience=2, min_delta=0.01)
    restored.load_state_dict(json.loads(json.dumps(es.state_dict())))
    assert restored.should_stop and restored.best_epoch == 2


def test_schedules_warmup_cosine_step_and_plateau() -> None:
    cos = LRSchedule("cosine", epochs=10, warmup_epochs=2)
    assert [round(cos.factor(e), 4) for e in (0, 1, 2)] == [round(1 / 3, 4), round(2 / 3, 4), 1.0]
    assert cos.factor(7) == pytest.approx(0.5 * (1 + math.cos(math.pi * 5 / 8)))
    step = LRSchedule("step", epochs=30, step_size=10, step_gamma=0.1)
    assert (step.factor(9), step.factor(10), step.factor(25)) == (
        1.0,
        pytest.approx(0.1),
        pytest.approx(0.01),
    )
    plateau = LRSchedule("plateau", epochs=30, plateau_factor=0.3, plateau_patience=1, monitor_mode="max")
    for v in (0.5, 0.5, 0.5):
        plateau.observe(v)
    assert plateau.factor(5) == pytest.approx(0.3)
    again = LRSchedule("plateau", epochs=30, plateau_factor=0.3, plateau_patience=1)
    again.load_state_dict(json.loads(json.dumps(plateau.state_dict())))
    assert again.factor(6) == pytest.approx(0.3)
