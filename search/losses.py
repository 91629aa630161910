"""Classification losses of the five studies, in one output convention.

Convention (kept by every part): a model has ``num_classes`` logits for every
task. Binary tasks use 2 logits and softmax, so ``probs[:, 1]`` is the positive
probability; the "bce" loss on a binary task applies a sigmoid to the logit
difference ``z = l1 - l0`` (``sigmoid(z) == softmax(l)[1]``), which is exactly
a 1-logit sigmoid model re-parametrised. Multi-label tasks use C independent
sigmoids.

PolyFocal (EfficientNet-DSP study): ``PFL = -(1-p_t)^g log p_t + w_t g (1-p_t)^(g+1)``.
Reading: Leng et al. 2022 (PolyLoss) expand focal loss as
``sum_j 1/j (1-p_t)^(j+g)`` and "Poly-1 focal" perturbs the leading term:
``FL + eps (1-p_t)^(g+1)``. The study's form is Poly-1 focal with
``eps = w_t * g`` where ``w_t`` is a class-frequency weight of the true class
(inverse frequency normalised to mean 1, see :func:`class_weights`). With
``g = 0`` it reduces to cross-entropy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from medzoo.errors import ConfigError

LOSSES = ("ce", "focal", "polyfocal", "bce")


def class_weights(targets: np.ndarray, num_classes: int) -> np.ndarray:
    """Inverse class frequency normalised to mean 1 (multi-hot targets: per-label positives).

    A class absent from ``targets`` gets weight 0 in the normalisation's view
    but 1.0 here, so it never silences a loss term.
    """
    targets = np.asarray(targets)
    counts = targets.sum(axis=0) if targets.ndim == 2 else np.bincount(targets, minlength=num_classes)
    counts = counts.astype(np.float64)
    inv = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / num_classes, 1.0)
    return (inv / inv.mean()).astype(np.float32)


def pos_weights(targets: np.ndarray) -> np.ndarray:
    """``negatives / positives`` per label (BCE's pos_weight); 1 where a label has no positive."""
    targets = np.asarray(targets, dtype=np.float64)
    if targets.ndim == 1:  # binary single-label targets 0/1
        targets = targets[:, None]
    pos = targets.sum(axis=0)
    neg = targets.shape[0] - pos
    return np.where(pos > 0, neg / np.maximum(pos, 1), 1.0).astype(np.float32)


class ClassificationLoss(nn.Module):
    """One module for all losses: ``loss(logits, target)`` with the convention above."""

    def __init__(
        self,
        kind: str,
        *,
        task: str,
        num_classes: int,
        label_smoothing: float = 0.0,
        gamma: float = 2.0,
        class_weight: Sequence[float] | None = None,
        pos_weight: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if kind not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got loss={kind!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"0 <= label_smoothing < 1 must hold, got label_smoothing={label_smoothing}")
        if gamma < 0:
            raise ConfigError(f"gamma >= 0 must hold, got gamma={gamma}")
        if task == "multilabel" and kind not in ("bce", "focal"):
            raise ConfigError(f"a multilabel task needs loss 'bce' or 'focal', got loss={kind!r}")
        self.kind, self.task, self.num_classes = kind, task, num_classes
        self.label_smoothing, self.gamma = float(label_smoothing), float(gamma)
        cw = torch.as_tensor(class_weight, dtype=torch.float32) if class_weight is not None else None
        pw = torch.as_tensor(pos_weight, dtype=torch.float32) if pos_weight is not None else None
        self.register_buffer("class_weight", cw, persistent=False)
        self.register_buffer("pos_weight", pw, persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.task == "multilabel":
            return self._sigmoid_loss(logits, target.float())
        if self.kind == "bce":
            if self.num_classes != 2:
                raise ConfigError(
                    f"loss 'bce' needs a binary or multilabel task, got {self.num_classes} classes"
                )
            z = (logits[:, 1] - logits[:, 0])[:, None]
            return self._sigmoid_loss(z, target.float()[:, None])
        if self.kind == "ce":
            return F.cross_entropy(
                logits, target, weight=self.class_weight, label_smoothing=self.label_smoothing
            )
        return self._focal(logits, target)

    def _focal(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(logits, dim=1)
        c = self.num_classes
        eps = self.label_smoothing
        soft = F.one_hot(target, c).float() * (1 - eps) + eps / c
        ce = -(soft * logp).sum(dim=1)
        pt = logp.gather(1, target[:, None])[:, 0].exp()
        loss = (1 - pt) ** self.gamma * ce
        w = self.class_weight[target] if self.class_weight is not None else torch.ones_like(pt)
        if self.kind == "polyfocal":
            return (loss + w * self.gamma * (1 - pt) ** (self.gamma + 1)).mean()
        return (w * loss).mean()

    def _sigmoid_loss(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ys = y * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        pw = self.pos_weight
        if self.kind == "focal":
            bce = F.binary_cross_entropy_with_logits(z, ys, reduction="none", pos_weight=pw)
            p = torch.sigmoid(z)
            pt = torch.where(y > 0.5, p, 1 - p)
            return ((1 - pt) ** self.gamma * bce).mean()
        return F.binary_cross_entropy_with_logits(z, ys, pos_weight=pw)
