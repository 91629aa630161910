"""MedzooNet: one shape for every family (backbone -> pool -> head), and backbone helpers.

A uniform wrapper is what lets heads, freezing, the Grad-CAM layer and timm's
checkpoint loading work the same for timm, torchvision and the papers' models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


class MedzooNet(nn.Module):
    """``head(pool(backbone.forward_features(x)))``; frozen units keep BN/dropout in eval."""

    def __init__(self, backbone: nn.Module, head: nn.Module, *, num_classes: int, num_features: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.num_classes = num_classes
        self.num_features = num_features
        self.frozen_units: list[str] = []  # module paths, set by medzoo.zoo.architectures.freeze

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(x)

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        """Global average pooling for maps; the backbone's own token pooling for transformers; vectors as they are."""
        if features.ndim == 4:
            return features.mean(dim=(2, 3))
        if features.ndim == 2:  # the backbone pooled already (e.g. AlexNet with its FC layers)
            return features
        return self.backbone.forward_head(features, pre_logits=True)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        pooled = self.pool(features)
        return pooled if pre_logits else self.head(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def train(self, mode: bool = True) -> MedzooNet:
        super().train(mode)
        for path in self.frozen_units:
            target = _module_or_none(self, path)
            if target is not None:
                target.eval()
        return self


def _module_or_none(root: nn.Module, path: str) -> nn.Module | None:
    try:
        return root.get_submodule(path)
    except AttributeError:
        return None  # a parameter (e.g. ViT's cls_token): nothing to put in eval


class SequentialFeatures(nn.Module):
    """Run named children in order: adopts a model's parts under their original names.

    Keeping the original names keeps the state-dict keys of the source model, so
    its pretrained weights load without renaming.
    """

    def __init__(
        self,
        parts: Sequence[tuple[str, nn.Module]],
        *,
        preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.order = [name for name, _ in parts]
        for name, module in parts:
            self.add_module(name, module)
        self._preprocess = preprocess

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self._preprocess is not None:
            x = self._preprocess(x)
        for name in self.order:
            x = getattr(self, name)(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)


def no_inplace_relu(module: nn.Module) -> nn.Module:
    """Grad-CAM hooks need activations that later ops do not overwrite in place."""
    for m in module.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return module
