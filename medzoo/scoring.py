"""The scoring rules that search and the zoo must share: logits to probabilities, and the bootstrap.

Why one place: a trial scores its validation/test outputs, and a zoo entry later
scores the same model's outputs at prediction and for Grad-CAM. If the two rules
differed, a published entry would predict other probabilities than the ones its
metrics were measured on.

Probability convention (every part keeps it): multi-label tasks use one sigmoid
per label; a model with a single logit (a binary model written as one sigmoid
output) gives ``[1 - p, p]``; every other model uses a softmax over its logits,
so binary models with two logits have ``probs[:, 1]`` = positive probability.

Bootstrap: a percentile bootstrap over samples, drawn as multinomial *count
weights* (B, N) so that a statistic of 1000 resamples is a few matrix products.
Seeded through ``np.random.default_rng``; no process RNG is touched.

Metrics (:func:`compute_metrics`, :func:`bootstrap_metrics`) are computed from
per-sample *weights*: the point estimate uses weight 1 for every sample, a
resample its multinomial counts, so one code path gives both.

Macro averages over classes absent from a resample. A percentile bootstrap
resample of a test set with a rare class often lacks that class; its recall and
F1 are then undefined (0/0), not 0. Averaging a 0 in would put a perfect
classifier's macro F1 interval at [0.5, 1.0]. Every per-class quantity is
therefore averaged over the classes *present in the true labels* of the sample
at hand (the whole set for the point estimate, the resample for a draw), which
is what ``sklearn.metrics.precision_recall_fscore_support(y, p, average="macro",
labels=np.unique(y), zero_division=0)`` and ``balanced_accuracy_score`` compute
on that resample: a class that is present but never predicted still counts with
precision 0, and predicting an absent class still costs the recall of the
sample's true class. Macro/mean AUC averages the classes whose AUC is defined
(positives and negatives present). A metric undefined in a whole resample (no
positive for a binary AUC) is left out of that metric's interval; tests compare
the intervals with ``scipy.stats.bootstrap(method="percentile")`` as an oracle.

numpy is imported at module level (cheap); torch only inside :func:`probabilities`.
Probabilities are (N, C): softmax for single-label (binary included, C = 2),
sigmoid for multi-label.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from medzoo.errors import ConfigError

if TYPE_CHECKING:
    import torch

BOOTSTRAP_CHUNK = 250


def probabilities(logits: torch.Tensor, *, task: str) -> torch.Tensor:
    """(..., C) float32 probabilities from (..., C) logits under the convention above.

    A single-logit output becomes two columns ``[1 - p, p]`` (the contract's C = 2).
    """
    import torch

    logits = logits.float()
    if task == "multilabel":
        return torch.sigmoid(logits)
    if logits.shape[-1] == 1:
        p1 = torch.sigmoid(logits[..., 0])
        return torch.stack([1 - p1, p1], dim=-1)
    return torch.softmax(logits, dim=-1)


def _check_bootstrap(resamples: int, level: float) -> None:
    if not 0 < level < 1:
        raise ConfigError(f"0 < level < 1 must hold, got level={level}")
    if resamples < 1:
        raise ConfigError(f"resamples >= 1 must hold, got resamples={resamples}")


def bootstrap_weights(
    n: int, *, resamples: int, seed: int, chunk: int = BOOTSTRAP_CHUNK
) -> Iterator[np.ndarray]:
    """Yield (b, n) float count matrices, ``resamples`` rows in all: row r counts how often
    each of the n samples is drawn in resample r (n draws with replacement).

    Chunks keep memory at ``chunk * n``; the draws depend only on (n, resamples, seed, chunk).
    """
    if n < 1:
        raise ConfigError(f"a bootstrap needs at least one sample, got n={n}")
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(b, n))
        counts = np.bincount((idx + np.arange(b)[:, None] * n).ravel(), minlength=b * n)
        yield counts.reshape(b, n).astype(float)


def percentile_interval(draws: np.ndarray, *, level: float = 0.95) -> tuple[float | None, float | None]:
    """The (low, high) percentile interval of the finite draws; (None, None) when none is finite.

    A resample in which a statistic is undefined (NaN, e.g. no positive) is left out.
    """
    v = np.asarray(draws, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if not len(v):
        return None, None
    alpha = (1 - level) / 2
    lo, hi = np.quantile(v, [alpha, 1 - alpha])
    return finite_or_none(lo), finite_or_none(hi)


def bootstrap_mean(
    values: np.ndarray, *, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """{"value", "ci_low", "ci_high", "n"}: the mean of ``values`` with its percentile-bootstrap interval."""
    _check_bootstrap(resamples, level)
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        return {"value": None, "ci_low": None, "ci_high": None, "n": 0}
    means = np.concatenate(
        [w @ v / v.size for w in bootstrap_weights(v.size, resamples=resamples, seed=seed)]
    )
    lo, hi = percentile_interval(means, level=level)
    return {"value": float(v.mean()), "ci_low": lo, "ci_high": hi, "n": int(v.size)}


def bootstrap_statistics(
    statistic: Any, n: int, *, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, tuple[float | None, float | None]]:
    """Percentile intervals of several statistics computed from count weights at once.

    ``statistic(w)`` takes a (b, n) weight matrix and returns {name: (b,) values};
    returns {name: (ci_low, ci_high)}. This is what lets every metric of a test
    set share one set of resamples.
    """
    _check_bootstrap(resamples, level)
    draws: dict[str, list[np.ndarray]] = {}
    for w in bootstrap_weights(n, resamples=resamples, seed=seed):
        for name, values in statistic(w).items():
            draws.setdefault(name, []).append(np.asarray(values, dtype=float))
    return {name: percentile_interval(np.concatenate(chunks), level=level) for name, chunks in draws.items()}


def finite_or_none(x: Any) -> float | None:
    """A float, or None for NaN/inf (JSON has no NaN)."""
    x = float(x)
    return x if np.isfinite(x) else None


# -- classification metrics with bootstrap intervals (search's trials and the zoo's evaluate) --------

ECE_BINS = 15


def primary_key(primary_metric: str, task: str) -> str:
    """The metrics-dict key of a dataset's primary metric ("auc" means macro OvR AUC on multiclass)."""
    if primary_metric == "auc" and task == "multiclass":
        return "macro_auc"
    return primary_metric


def _weighted_auc(scores: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC with ties counted half, for every row of weights ``w`` (B, N) at once."""
    order = np.argsort(scores, kind="mergesort")
    s, yy, ww = scores[order], y[order].astype(bool), w[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    wp = np.add.reduceat(ww * yy, starts, axis=1)
    wn = np.add.reduceat(ww * ~yy, starts, axis=1)
    neg_before = np.cumsum(wn, axis=1) - wn
    num = (wp * (neg_before + 0.5 * wn)).sum(axis=1)
    den = wp.sum(axis=1) * wn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _ece(conf: np.ndarray, correct: np.ndarray, w: np.ndarray) -> np.ndarray:
    bins = np.minimum((conf * ECE_BINS).astype(int), ECE_BINS - 1)
    onehot = np.eye(ECE_BINS)[bins]  # (N, bins)
    tot = w @ onehot
    gap = np.abs(w @ (onehot * correct[:, None]) - w @ (onehot * conf[:, None]))
    return gap.sum(axis=1) / np.maximum(tot.sum(axis=1), 1e-12)


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        rec = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(prec + rec > 0, 2 * prec * rec / np.where(prec + rec > 0, prec + rec, 1), 0.0)
    return prec, rec, f1


def _present_mean(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Row means of (B, C) ``values`` over the classes ``present`` in each row's true labels (NaN if none)."""
    count = present.sum(axis=1)
    total = np.where(present, values, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _single_label(probs: np.ndarray, targets: np.ndarray, preds: np.ndarray, w: np.ndarray) -> dict:
    n, c = probs.shape
    pair = np.eye(c * c)[targets * c + preds]  # (N, C*C)
    cm = (w @ pair).reshape(-1, c, c)  # (B, true, pred)
    tp = np.diagonal(cm, axis1=1, axis2=2)
    support = cm.sum(axis=2)
    predicted = cm.sum(axis=1)
    total = support.sum(axis=1)
    fp, fn = predicted - tp, support - tp
    tn = total[:, None] - tp - fp - fn
    prec, rec, f1 = _prf(tp, fp, fn)
    present = support > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        spec = np.where(tn + fp > 0, tn / (tn + fp), np.nan)
        out: dict[str, Any] = {
            "accuracy": tp.sum(axis=1) / total,
            "balanced_accuracy": _present_mean(rec, present),
            "macro_precision": _present_mean(prec, present),
            "macro_recall": _present_mean(rec, present),
            "macro_f1": _present_mean(f1, present),
        }
    aucs = np.stack([_weighted_auc(probs[:, k], targets == k, w) for k in range(c)], axis=1)
    if c == 2:
        out["auc"] = aucs[:, 1]
    else:
        out["macro_auc"] = np.nanmean(aucs, axis=1) if np.isfinite(aucs).any() else aucs[:, 0]
    conf = probs[np.arange(n), preds]
    out["ece"] = _ece(conf, (preds == targets).astype(float), w)
    out["_per_class"] = {"sensitivity": np.where(present, rec, np.nan), "specificity": spec, "auc": aucs}
    out["_cm"] = cm
    return out


def _multilabel(probs: np.ndarray, targets: np.ndarray, w: np.ndarray, threshold: float) -> dict:
    y = targets.astype(bool)
    pred = probs >= threshold
    tp = w @ (y & pred)
    fp = w @ (~y & pred)
    fn = w @ (y & ~pred)
    tn = w @ (~y & ~pred)
    prec, rec, f1 = _prf(tp, fp, fn)
    aucs = np.stack([_weighted_auc(probs[:, k], y[:, k], w) for k in range(probs.shape[1])], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        spec = np.where(tn + fp > 0, tn / (tn + fp), np.nan)
        sens = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        present = tp + fn > 0
        out: dict[str, Any] = {
            "mean_auroc": np.nanmean(aucs, axis=1) if np.isfinite(aucs).any() else aucs[:, 0],
            "macro_precision": _present_mean(prec, present),
            "macro_recall": _present_mean(rec, present),
            "macro_f1": _present_mean(f1, present),
            "label_accuracy": ((tp + tn) / (tp + tn + fp + fn)).mean(axis=1),
        }
    conf = np.where(pred, probs, 1 - probs).ravel()
    correct = (pred == y).astype(float).ravel()
    c = probs.shape[1]
    out["ece"] = _ece(conf, correct, np.repeat(w, c, axis=1))
    out["_per_class"] = {"sensitivity": sens, "specificity": spec, "auc": aucs}
    return out


def _check(probs: np.ndarray, targets: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets)
    if probs.ndim != 2 or len(probs) != len(targets) or len(probs) == 0:
        raise ConfigError(
            f"probs must be (N, C) with N = len(targets) > 0, got probs {probs.shape}, targets {targets.shape}"
        )
    if task == "multilabel" and targets.shape != probs.shape:
        raise ConfigError(
            f"multilabel targets must be (N, C) like probs, got {targets.shape} vs {probs.shape}"
        )
    if task != "multilabel":
        targets = targets.astype(np.int64)
    return probs, targets


def _evaluate(probs, targets, task, w, threshold, preds=None) -> dict:
    if task == "multilabel":
        return _multilabel(probs, targets, w, threshold)
    return _single_label(probs, targets, probs.argmax(axis=1) if preds is None else preds, w)


def compute_metrics(
    probs: np.ndarray,
    targets: np.ndarray,
    *,
    task: str,
    classes: Sequence[str],
    threshold: float = 0.5,
    preds: np.ndarray | None = None,
) -> dict[str, Any]:
    """Point metrics: {metric: float}, plus "per_class" and (single-label) "confusion_matrix".

    ``preds`` overrides argmax predictions (used by the patient-level vote).
    """
    probs, targets = _check(probs, targets, task)
    res = _evaluate(probs, targets, task, np.ones((1, len(probs))), threshold, preds)
    out: dict[str, Any] = {k: _f(v[0]) for k, v in res.items() if not k.startswith("_")}
    pc = res["_per_class"]
    out["per_class"] = {
        name: {m: _f(pc[m][0, i]) for m in ("sensitivity", "specificity", "auc")}
        for i, name in enumerate(classes)
    }
    if "_cm" in res:
        out["confusion_matrix"] = res["_cm"][0].round().astype(int).tolist()
    return out


def bootstrap_metrics(
    probs: np.ndarray,
    targets: np.ndarray,
    *,
    task: str,
    classes: Sequence[str],
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    threshold: float = 0.5,
    preds: np.ndarray | None = None,
) -> dict[str, Any]:
    """Metrics in the contract's schema: {"metrics": {name: {value, ci_low, ci_high}}, "per_class", ...}.

    Percentile bootstrap over samples (seeded). A resample in which a metric is
    undefined (e.g. no positive) is left out of that metric's interval.
    """
    point = compute_metrics(probs, targets, task=task, classes=classes, threshold=threshold, preds=preds)
    probs, targets = _check(probs, targets, task)
    n = len(probs)

    def statistic(w: np.ndarray) -> dict[str, np.ndarray]:
        res = _evaluate(probs, targets, task, w, threshold, preds)
        return {k: v for k, v in res.items() if not k.startswith("_")}

    intervals = bootstrap_statistics(statistic, n, resamples=resamples, seed=seed, level=level)
    metrics = {k: {"value": point[k], "ci_low": lo, "ci_high": hi} for k, (lo, hi) in intervals.items()}
    out: dict[str, Any] = {
        "n": n,
        "metrics": metrics,
        "per_class": point["per_class"],
        "ci": {"method": "bootstrap", "level": level, "resamples": resamples, "seed": seed},
    }
    if "confusion_matrix" in point:
        out["confusion_matrix"] = point["confusion_matrix"]
    return out


_f = finite_or_none
