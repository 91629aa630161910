"""Metrics against scikit-learn; bootstrap intervals; the patient and multi-sequence votes."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn import metrics as skm

from medzoo.search.metrics import bootstrap_metrics, compute_metrics, patient_vote, sequence_vote


def _multiclass(n: int = 400, c: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = rng.integers(0, c, n)
    p = rng.dirichlet(np.ones(c), n)
    p[np.arange(n), t] += 0.4
    return p / p.sum(1, keepdims=True), t


def test_multiclass_metrics_match_sklearn() -> None:
    p, t = _multiclass()
    pred = p.argmax(1)
    m = compute_metrics(p, t, task="multiclass", classes=["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(t, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(t, pred))
    assert m["macro_precision"] == pytest.approx(skm.precision_score(t, pred, average="macro"))
    assert m["macro_recall"] == pytest.approx(skm.recall_score(t, pred, average="macro"))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(t, pred, average="macro"))
    assert m["macro_auc"] == pytest.approx(skm.roc_auc_score(t, p, multi_class="ovr", average="macro"))
    assert m["confusion_matrix"] == skm.confusion_matrix(t, pred).tolist()
    cm = skm.confusion_matrix(t, pred)
    spec_b = (cm.sum() - cm[1].sum() - cm[:, 1].sum() + cm[1, 1]) / (cm.sum() - cm[1].sum())
    assert m["per_class"]["b"]["sensitivity"] == pytest.approx(cm[1, 1] / cm[1].sum())
    assert m["per_class"]["b"]["specificity"] == pytest.approx(spec_b)


def test_binary_auc_with_ties_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    t = rng.integers(0, 2, 300)
    s = np.round(np.clip(0.3 * t + rng.random(300) * 0.7, 0, 1), 1)  # many ties
    p = np.stack([1 - s, s], axis=1)
    m = compute_metrics(p, t, task="binary", classes=["benign", "malignant"])
    assert m["auc"] == pytest.approx(skm.roc_auc_score(t, s))


def test_multilabel_mean_auroc_and_f1_match_sklearn() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, (300, 4))
    q = np.clip(0.35 * y + 0.65 * rng.random((300, 4)), 0, 1)
    m = compute_metrics(q, y, task="multilabel", classes=list("abcd"))
    assert m["mean_auroc"] == pytest.approx(skm.roc_auc_score(y, q, average="macro"))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, q >= 0.5, average="macro"))


def test_expected_calibration_error_by_hand() -> None:
    # confidences 0.9 (correct), 0.9 (wrong) fall in one bin: |0.5 - 0.9| = 0.4; 0.6 correct: |1 - 0.6| = 0.4
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6]])
    m = compute_metrics(p, np.array([0, 1, 1]), task="binary", classes=["n", "p"])
    assert m["ece"] == pytest.approx((2 * 0.4 + 1 * 0.4) / 3)


def test_bootstrap_interval_brackets_the_value_is_seeded_and_fast() -> None:
    p, t = _multiclass(n=2000)
    t0 = time.perf_counter()
    a = bootstrap_metrics(p, t, task="multiclass", classes=["a", "b", "c"], resamples=1000, seed=3)
    assert time.perf_counter() - t0 < 10
    b = bootstrap_metrics(p, t, task="multiclass", classes=["a", "b", "c"], resamples=1000, seed=3)
    assert a == b
    for name in ("accuracy", "macro_f1", "macro_auc", "ece"):
        m = a["metrics"][name]
        assert m["ci_low"] <= m["value"] <= m["ci_high"], name
    acc = a["metrics"]["accuracy"]
    se = np.sqrt(acc["value"] * (1 - acc["value"]) / len(t))  # normal approximation of the 95% width
    assert acc["ci_high"] - acc["ci_low"] == pytest.approx(2 * 1.96 * se, rel=0.2)
    small = bootstrap_metrics(p[:200], t[:200], task="multiclass", classes=["a", "b", "c"], resamples=500)
    assert (
        small["metrics"]["accuracy"]["ci_high"] - small["metrics"]["accuracy"]["ci_low"]
        > acc["ci_high"] - acc["ci_low"]
    )
    assert a["ci"] == {"method": "bootstrap", "level": 0.95, "resamples": 1000, "seed": 3}


def test_patient_vote_takes_the_majority_of_slices() -> None:
    probs = np.array([[0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.9, 0.1], [0.6, 0.4]])
    mean, preds, targets, pids = patient_vote(
        probs, np.array([1, 1, 1, 0, 0]), ["p1", "p1", "p1", "p2", "p2"]
    )
    assert pids == ["p1", "p2"]
    assert preds.tolist() == [1, 0]
    assert targets.tolist() == [1, 0]
    assert mean[0] == pytest.approx([0.5, 0.5])


def test_sequence_vote_is_a_majority_over_aligned_slices() -> None:
    def out(p1: list[float], keys: list[str]) -> dict:
        p1 = np.array(p1)
        return {
            "probs": np.stack([1 - p1, p1], 1),
            "targets": np.array([1, 0, 1])[: len(keys)],
            "keys": np.array(keys),
        }

    keys = ["a/1", "a/2", "b/1"]
    res = sequence_vote(
        {
            "t1": out([0.9, 0.2, 0.4], keys),
            "t2": out([0.6, 0.7, 0.3], keys),
            "flair": out([0.2, 0.1, 0.8], keys),
        }
    )
    assert res["keys"].tolist() == keys
    assert res["preds"].tolist() == [1, 0, 0]
    assert res["targets"].tolist() == [1, 0, 1]
