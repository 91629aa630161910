"""Classification metrics with seeded, vectorised 95% bootstrap intervals.

Every metric is computed from per-sample *weights*: the point estimate uses
weight 1 for every sample, a bootstrap resample uses the multinomial counts of
that resample. One code path therefore gives both, and 1000 resamples cost a
few matrix products instead of 1000 Python loops.

Probabilities follow the convention of :mod:`medzoo.scoring`: (N, C),
softmax for single-label (binary included, C = 2), sigmoid for multi-label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from medzoo.errors import ConfigError
from medzoo.scoring import bootstrap_statistics, finite_or_none

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
            "balanced_accuracy": np.nanmean(np.where(present, rec, np.nan), axis=1),
            "macro_precision": prec.mean(axis=1),
            "macro_recall": rec.mean(axis=1),
            "macro_f1": f1.mean(axis=1),
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
        out: dict[str, Any] = {
            "mean_auroc": np.nanmean(aucs, axis=1) if np.isfinite(aucs).any() else aucs[:, 0],
            "macro_precision": prec.mean(axis=1),
            "macro_recall": rec.mean(axis=1),
            "macro_f1": f1.mean(axis=1),
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


def patient_vote(
    probs: np.ndarray, targets: np.ndarray, patient_ids: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Patient-level outputs from slice outputs: (mean probs, majority-vote preds, targets, patient ids).

    Vote ties are broken by the mean probability. A patient whose slices carry
    different targets is a data error and raises.
    """
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets).astype(np.int64)
    pids = np.asarray([str(p) for p in patient_ids])
    uniq, inv = np.unique(pids, return_inverse=True)
    c = probs.shape[1]
    counts = np.zeros((len(uniq), c))
    np.add.at(counts, (inv, probs.argmax(axis=1)), 1)
    sums = np.zeros((len(uniq), c))
    np.add.at(sums, inv, probs)
    mean = sums / counts.sum(axis=1, keepdims=True)
    preds = np.where(counts == counts.max(axis=1, keepdims=True), mean, -1).argmax(axis=1)
    ptarget = np.zeros(len(uniq), dtype=np.int64)
    for i in range(len(uniq)):
        t = np.unique(targets[inv == i])
        if len(t) != 1:
            raise ConfigError(
                f"every slice of a patient must carry one label, patient {uniq[i]!r} has {t.tolist()}"
            )
        ptarget[i] = t[0]
    return mean, preds, ptarget, uniq.tolist()


def sequence_vote(outputs: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The glioma study's multi-sequence majority vote over per-sequence model outputs.

    ``outputs[seq] = {"probs": (N,C), "targets": (N,), "keys": (N,)}`` where
    ``keys`` identify the same slice across sequences (patient + slice index).
    Returns {"probs": mean probs, "preds": class with the most votes (ties by
    mean prob), "targets", "keys"} over the keys every sequence has.
    """
    if len(outputs) < 2:
        raise ConfigError(f"a vote needs >= 2 sequences, got {sorted(outputs)}")
    common = None
    for out in outputs.values():
        k = set(np.asarray(out["keys"]).astype(str).tolist())
        common = k if common is None else common & k
    keys = np.array(sorted(common or ()))
    if len(keys) == 0:
        raise ConfigError(f"the sequences {sorted(outputs)} share no slice keys; vote needs aligned outputs")
    stacked, targets = [], None
    for seq, out in outputs.items():
        pos = {k: i for i, k in enumerate(np.asarray(out["keys"]).astype(str))}
        rows = np.array([pos[k] for k in keys])
        stacked.append(np.asarray(out["probs"], dtype=np.float64)[rows])
        t = np.asarray(out["targets"])[rows]
        if targets is not None and not np.array_equal(t, targets):
            raise ConfigError(
                f"sequence {seq!r} disagrees with the others on targets for the same slice keys"
            )
        targets = t
    probs = np.stack(stacked)  # (S, N, C)
    c = probs.shape[2]
    votes = np.eye(c)[probs.argmax(axis=2)].sum(axis=0)
    mean = probs.mean(axis=0)
    preds = np.where(votes == votes.max(axis=1, keepdims=True), mean, -1).argmax(axis=1)
    return {"probs": mean, "preds": preds, "targets": targets, "keys": keys}
