"""Patient and multi-sequence votes over a trial's outputs; the metrics themselves live in the core.

The classification metrics with their bootstrap intervals (``compute_metrics``,
``bootstrap_metrics``, ``primary_key``) are :mod:`medzoo.scoring`'s, because the
zoo scores models too (``medzoo evaluate`` on another dataset) and the zoo never
imports the search; they are re-exported here for the search's own callers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from medzoo.errors import ConfigError
from medzoo.scoring import bootstrap_metrics, compute_metrics, primary_key

__all__ = ["bootstrap_metrics", "compute_metrics", "patient_vote", "primary_key", "sequence_vote"]


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
