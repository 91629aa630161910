"""The bootstrap intervals of ``medzoo.scoring.bootstrap_metrics`` against an oracle.

The oracle is ``scipy.stats.bootstrap(..., method="percentile")`` resampling the
sample indices (targets and probabilities stay paired), with each metric written
out independently below in plain numpy (checked against scikit-learn on the whole
set and on resamples). Per-class averages use the classes present in the sample's
true labels (scikit-learn's ``labels=np.unique(y)``), the rule medzoo documents; a
resample where a metric is undefined (a binary AUC without a positive) is left out,
as medzoo does.

scipy draws its resamples as ``rng.integers(0, n, (batch, n))``, exactly as
``medzoo.scoring.bootstrap_weights`` does per chunk; with ``batch`` = medzoo's chunk
and the same seed both bootstraps see the *same* 2000 resamples, so the intervals
must agree to rounding (``TOL``), not merely within Monte Carlo error. A second
oracle run with another seed shows how far independent bootstraps of these sets
differ (Monte Carlo error, ``MC_RANK``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from medzoo.scoring import BOOTSTRAP_CHUNK, ECE_BINS, bootstrap_metrics, compute_metrics

RESAMPLES = 2000
#: the same resamples: bounds agree to floating-point rounding
TOL = 1e-9
#: independent resamples (another seed): a bound's quantile rank may differ from 2.5 % / 97.5 % by this much
MC_RANK = 0.015


def _auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC from average ranks (ties count half); NaN without positives or negatives."""
    npos, nneg = int(positive.sum()), int((~positive).sum())
    if npos == 0 or nneg == 0:
        return np.nan
    ranks = stats.rankdata(score)
    return float((ranks[positive].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def _ece(conf: np.ndarray, correct: np.ndarray) -> float:
    """Expected calibration error, bin by bin."""
    bins = np.minimum((conf * ECE_BINS).astype(int), ECE_BINS - 1)
    total = 0.0
    for b in range(ECE_BINS):
        inside = bins == b
        if inside.any():
            total += abs(correct[inside].sum() - conf[inside].sum())
    return total / len(conf)


def _macro(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, present: np.ndarray) -> dict[str, float]:
    """Macro precision, recall and F1 over the present classes (0 where a ratio is 0/0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.nan_to_num(tp / (tp + fp))
        rec = np.nan_to_num(tp / (tp + fn))
        f1 = np.nan_to_num(2 * tp / (2 * tp + fp + fn))
    if not present.any():
        return {"macro_precision": np.nan, "macro_recall": np.nan, "macro_f1": np.nan}
    return {
        "macro_precision": prec[present].mean(),
        "macro_recall": rec[present].mean(),
        "macro_f1": f1[present].mean(),
    }


def _single_label_oracle(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    pred = p.argmax(axis=1)
    c = p.shape[1]
    cm = np.zeros((c, c))
    np.add.at(cm, (y, pred), 1)
    tp = np.diag(cm)
    present = cm.sum(axis=1) > 0
    macro = _macro(tp, cm.sum(axis=0) - tp, cm.sum(axis=1) - tp, present)
    aucs = np.array([_auc(y == k, p[:, k]) for k in range(c)])
    out = {
        "accuracy": tp.sum() / len(y),
        "balanced_accuracy": macro["macro_recall"],
        **macro,
        "ece": _ece(p[np.arange(len(y)), pred], (pred == y).astype(float)),
    }
    if c == 2:
        out["auc"] = aucs[1]
    else:
        out["macro_auc"] = np.nanmean(aucs) if np.isfinite(aucs).any() else np.nan
    return out


def _multilabel_oracle(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    pred = p >= 0.5
    yb = y.astype(bool)
    tp, fp, fn = (yb & pred).sum(0), (~yb & pred).sum(0), (yb & ~pred).sum(0)
    aucs = np.array([_auc(yb[:, k], p[:, k]) for k in range(y.shape[1])])
    return {
        "mean_auroc": np.nanmean(aucs) if np.isfinite(aucs).any() else np.nan,
        **_macro(tp.astype(float), fp.astype(float), fn.astype(float), yb.sum(axis=0) > 0),
        "label_accuracy": float((pred == yb).mean()),
        "ece": _ece(np.where(pred, p, 1 - p).ravel(), (pred == yb).astype(float).ravel()),
    }


def _sklearn(y: np.ndarray, p: np.ndarray, task: str) -> dict[str, float]:
    """scikit-learn's own numbers for the oracle's metrics (slow: used on a few resamples only)."""
    multilabel = task == "multilabel"
    pred = (p >= 0.5).astype(int) if multilabel else p.argmax(axis=1)
    labels = np.flatnonzero(y.sum(axis=0) > 0) if multilabel else np.unique(y)
    macro = {"labels": labels, "average": "macro", "zero_division": 0}
    out = {
        "macro_precision": skm.precision_score(y, pred, **macro),
        "macro_recall": skm.recall_score(y, pred, **macro),
        "macro_f1": skm.f1_score(y, pred, **macro),
    }
    if not multilabel:
        out["accuracy"] = skm.accuracy_score(y, pred)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
            out["balanced_accuracy"] = skm.balanced_accuracy_score(y, pred)
    if task == "binary" and len(labels) == 2:
        out["auc"] = skm.roc_auc_score(y, p[:, 1])
    return out


def _check_oracle_against_sklearn(y, p, *, task, oracle) -> None:
    rng = np.random.default_rng(7)
    for idx in [np.arange(len(y)), *(rng.integers(0, len(y), len(y)) for _ in range(10))]:
        ours, theirs = oracle(y[idx], p[idx]), _sklearn(y[idx], p[idx], task)
        for name, value in theirs.items():
            assert ours[name] == pytest.approx(value, abs=1e-12), name


def _oracle_draws(y, p, oracle, *, seed: int) -> dict[str, np.ndarray]:
    """The oracle's bootstrap distribution of each metric (finite draws), from ``seed``'s resamples."""
    return {name: draws[np.isfinite(draws)] for name, draws in _bootstrap(y, p, oracle, seed=seed)[1].items()}


def _check_monte_carlo(ours: dict, draws: dict[str, np.ndarray]) -> None:
    """Against independent resamples, each bound of medzoo's interval must lie between the oracle's quantiles
    at 2.5 % / 97.5 % -+ ``MC_RANK`` (about 3 standard errors of the difference of two 2000-draw quantiles); ranks, not values,
    because metrics on few positives have lumpy distributions (atoms, and percentiles between them)."""
    for name, d in draws.items():
        for bound, nominal in (("ci_low", 0.025), ("ci_high", 0.975)):
            lo = np.quantile(d, max(nominal - MC_RANK, 0.0), method="lower")
            hi = np.quantile(d, min(nominal + MC_RANK, 1.0), method="higher")
            assert lo - 1e-12 <= ours[name][bound] <= hi + 1e-12, (name, bound, ours[name][bound], lo, hi)


def _bootstrap(y, p, oracle, *, seed: int):
    names = list(oracle(y, p))

    def statistic(idx: np.ndarray) -> np.ndarray:
        values = oracle(y[idx], p[idx])
        return np.array([values[n] for n in names], dtype=float)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NaN statistics (undefined AUC) warn in scipy
        res = stats.bootstrap(
            (np.arange(len(y)),),
            statistic,
            vectorized=False,
            n_resamples=RESAMPLES,
            batch=BOOTSTRAP_CHUNK,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    return res, {name: res.bootstrap_distribution[i] for i, name in enumerate(names)}


def _oracle_intervals(y, p, oracle, *, seed: int) -> dict[str, tuple[float, float]]:
    res, all_draws = _bootstrap(y, p, oracle, seed=seed)
    out = {}
    for i, (name, draws) in enumerate(all_draws.items()):
        if np.isfinite(draws).all():
            out[name] = (float(res.confidence_interval.low[i]), float(res.confidence_interval.high[i]))
        else:  # scipy propagates NaN; medzoo leaves undefined resamples out, so the oracle does too
            out[name] = tuple(np.percentile(draws[np.isfinite(draws)], [2.5, 97.5]))
    return out


def _check_against_oracle(y, p, *, task, classes, oracle) -> dict[str, float]:
    """Assert medzoo's intervals equal the oracle's on the same resamples; return the bounds' widths."""
    _check_oracle_against_sklearn(y, p, task=task, oracle=oracle)
    ours = bootstrap_metrics(p, y, task=task, classes=classes, resamples=RESAMPLES, seed=0)
    expected = _oracle_intervals(y, p, oracle, seed=0)
    point = oracle(y, p)
    assert set(ours["metrics"]) == set(expected), "every reported metric must have an oracle"
    widths = {}
    for name, (lo, hi) in expected.items():
        got = ours["metrics"][name]
        assert got["value"] == pytest.approx(point[name], abs=1e-9), name
        assert (got["ci_low"], got["ci_high"]) == (pytest.approx(lo, abs=TOL), pytest.approx(hi, abs=TOL)), (
            name
        )
        widths[name] = hi - lo
    _check_monte_carlo(ours["metrics"], _oracle_draws(y, p, oracle, seed=1))
    return widths


def _noisy_probs(y: np.ndarray, c: int, *, skill: float, rng: np.random.Generator) -> np.ndarray:
    logits = rng.normal(size=(len(y), c)) + skill * np.eye(c)[y]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_multiclass_with_a_rare_class_matches_the_oracle() -> None:
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(50, int), np.ones(45, int), np.full(3, 2)]  # class 2: absent from ~5 % of resamples
    p = _noisy_probs(y, 3, skill=1.5, rng=rng)
    _check_against_oracle(y, p, task="multiclass", classes=["a", "b", "c"], oracle=_single_label_oracle)


def test_perfect_classifier_has_degenerate_intervals_even_with_a_rare_class() -> None:
    """The bug this guards: accuracy 1.000 [1.000, 1.000] but macro F1 1.000 [0.500, 1.000]."""
    y = np.r_[np.zeros(40, int), np.ones(40, int), np.full(2, 2)]
    p = np.eye(3)[y] * 0.9 + 0.1 / 3
    ours = bootstrap_metrics(p, y, task="multiclass", classes=["a", "b", "c"], resamples=RESAMPLES)
    for name in ("accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1", "macro_auc"):
        assert (ours["metrics"][name]["ci_low"], ours["metrics"][name]["ci_high"]) == (1.0, 1.0), name
    widths = _check_against_oracle(
        y, p, task="multiclass", classes=["a", "b", "c"], oracle=_single_label_oracle
    )
    assert widths["macro_f1"] == 0.0


def test_binary_auc_with_rare_positives_matches_the_oracle() -> None:
    rng = np.random.default_rng(2)
    y = np.r_[np.zeros(100, int), np.ones(4, int)]  # ~2 % of resamples have no positive: AUC undefined
    p = _noisy_probs(y, 2, skill=2.0, rng=rng)
    _check_against_oracle(y, p, task="binary", classes=["neg", "pos"], oracle=_single_label_oracle)


def test_multilabel_matches_the_oracle() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random((100, 3)) < [0.4, 0.3, 0.03]).astype(int)
    p = np.clip(0.35 * y + rng.random((100, 3)) * 0.65, 0, 1)
    _check_against_oracle(y, p, task="multilabel", classes=["x", "y", "z"], oracle=_multilabel_oracle)


def test_point_macro_f1_leaves_out_a_class_absent_from_the_labels() -> None:
    """A test set without class c: macro F1 over the classes present, as scikit-learn computes it."""
    y = np.array([0, 0, 1, 1])
    p = np.eye(3)[[0, 0, 1, 1]]
    got = compute_metrics(p, y, task="multiclass", classes=["a", "b", "c"])
    assert got["macro_f1"] == 1.0
    assert got["per_class"]["c"]["sensitivity"] is None
