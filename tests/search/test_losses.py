"""Losses against values computed by hand from their formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from medzoo.errors import ConfigError
from medzoo.search.losses import ClassificationLoss, class_weights, pos_weights


def _softmax(z: list[float]) -> list[float]:
    e = [math.exp(v) for v in z]
    return [v / sum(e) for v in e]


LOGITS = [2.0, 0.0, -1.0]
P = _softmax(LOGITS)


def _loss(kind: str, **kw) -> float:
    fn = ClassificationLoss(
        kind, task=kw.pop("task", "multiclass"), num_classes=kw.pop("num_classes", 3), **kw
    )
    return fn(torch.tensor([LOGITS]), torch.tensor([0])).item()


def test_cross_entropy_with_label_smoothing() -> None:
    eps = 0.1
    want = -((1 - eps + eps / 3) * math.log(P[0]) + eps / 3 * (math.log(P[1]) + math.log(P[2])))
    assert _loss("ce", label_smoothing=eps) == pytest.approx(want, rel=1e-6)


def test_focal_down_weights_by_one_minus_pt_to_gamma() -> None:
    want = -((1 - P[0]) ** 2) * math.log(P[0])
    assert _loss("focal", gamma=2.0) == pytest.approx(want, rel=1e-6)


def test_polyfocal_adds_omega_gamma_times_one_minus_pt_to_gamma_plus_one() -> None:
    w = [0.5, 1.2, 1.3]
    focal = -((1 - P[0]) ** 2) * math.log(P[0])
    want = focal + w[0] * 2.0 * (1 - P[0]) ** 3
    assert _loss("polyfocal", gamma=2.0, class_weight=w) == pytest.approx(want, rel=1e-6)


def test_polyfocal_with_gamma_zero_is_cross_entropy() -> None:
    assert _loss("polyfocal", gamma=0.0, class_weight=[1, 1, 1]) == pytest.approx(-math.log(P[0]), rel=1e-6)


def test_binary_bce_is_a_sigmoid_on_the_logit_difference_with_smoothing() -> None:
    fn = ClassificationLoss("bce", task="binary", num_classes=2, label_smoothing=0.2)
    s = 1 / (1 + math.exp(-1.5))  # z = l1 - l0 = 1.5
    want = -(0.9 * math.log(s) + 0.1 * math.log(1 - s))
    assert fn(torch.tensor([[0.5, 2.0]]), torch.tensor([1])).item() == pytest.approx(want, rel=1e-6)


def test_multilabel_bce_with_positive_weights() -> None:
    fn = ClassificationLoss("bce", task="multilabel", num_classes=2, pos_weight=[3.0, 1.0])
    s0, s1 = 1 / (1 + math.exp(-0.3)), 1 / (1 + math.exp(1.0))
    want = (-(3.0 * math.log(s0)) - math.log(1 - s1)) / 2
    got = fn(torch.tensor([[0.3, -1.0]]), torch.tensor([[1.0, 0.0]])).item()
    assert got == pytest.approx(want, rel=1e-6)


def test_class_and_positive_weights_from_frequencies() -> None:
    assert class_weights(np.array([0, 1, 1, 1]), 2) == pytest.approx([1.5, 0.5])
    assert pos_weights(np.array([[1, 0], [0, 0], [0, 1], [0, 1]])) == pytest.approx([3.0, 1.0])


def test_bad_loss_parameters_say_what_must_hold() -> None:
    with pytest.raises(ConfigError, match="label_smoothing < 1 must hold, got label_smoothing=1.5"):
        ClassificationLoss("ce", task="multiclass", num_classes=3, label_smoothing=1.5)
    with pytest.raises(ConfigError, match="loss='dice'"):
        ClassificationLoss("dice", task="multiclass", num_classes=3)
    with pytest.raises(ConfigError, match="multilabel task needs loss"):
        ClassificationLoss("polyfocal", task="multilabel", num_classes=3)
