"""Card figures: confusion matrix, ROC curves and training curves (matplotlib, Agg, PNG bytes).

Each function returns PNG bytes so that publish can write them atomically into
the entry's ``plots/`` folder; nothing here touches the screen or global state
beyond selecting the Agg backend.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np


def _figure(w: float, h: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def confusion_matrix_png(matrix: Sequence[Sequence[int]], labels: Sequence[str], *, title: str = "") -> bytes:
    """Counts with row-normalised shading (rows = true class, columns = predicted)."""
    cm = np.asarray(matrix, dtype=float)
    n = len(labels)
    size = max(3.0, 0.6 * n + 2)
    fig = _figure(size, size)
    ax = fig.add_subplot()
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels=list(labels), rotation=45, ha="right")
    ax.set_yticks(range(n), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}",
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_title(title or "confusion matrix (test)")
    return _png(fig)


def roc_png(probs: np.ndarray, targets: np.ndarray, labels: Sequence[str], *, task: str) -> bytes:
    """One-vs-rest ROC per class (binary: the positive class; multi-label: per label)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    probs = np.asarray(probs, dtype=float)
    targets = np.asarray(targets)
    if task == "multilabel":
        onehot = targets.astype(int)
    else:
        onehot = np.eye(probs.shape[1], dtype=int)[targets.astype(int)]
    classes = [1] if task == "binary" and probs.shape[1] == 2 else range(probs.shape[1])
    fig = _figure(4.5, 4.0)
    ax = fig.add_subplot()
    for c in classes:
        y = onehot[:, c]
        if y.min() == y.max():
            continue  # ROC undefined without both classes present
        fpr, tpr, _ = roc_curve(y, probs[:, c])
        ax.plot(fpr, tpr, lw=1.2, label=f"{labels[c]} (AUC {roc_auc_score(y, probs[:, c]):.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC (test)")
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def training_curves_png(history: Sequence[dict[str, Any]], *, primary_metric: str) -> bytes:
    """Train/val loss and the validation primary metric per epoch."""
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    fig = _figure(8.0, 3.2)
    ax1, ax2 = fig.subplots(1, 2)
    for key, style in (("train_loss", "-"), ("val_loss", "--")):
        ys = [h.get(key) for h in history]
        if any(v is not None for v in ys):
            ax1.plot(epochs, [np.nan if v is None else v for v in ys], style, label=key)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.legend(fontsize=8)
    key = f"val_{primary_metric}"
    ys = [h.get(key) for h in history]
    ax2.plot(epochs, [np.nan if v is None else v for v in ys], "o-", ms=3, color="tab:green")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel(key)
    fig.suptitle("training curves")
    return _png(fig)
