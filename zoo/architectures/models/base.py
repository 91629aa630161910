"""MedzooNet: one shape for every family (backbone -> pool -> head), and backbone helpers.

A uniform wrapper is what lets heads, freezing, the Grad-CAM layer and timm's
checkpoint loading work the same for timm, torchvision and the papers' models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


class MedzooNet(nn.Module):
    """``head(pool(backbone.forward_features(x)))`` with timm's model API; frozen units keep BN/dropout in eval.

    The pooling kind (``"map"``: NCHW maps, ``"vector"``: the backbone pooled already,
    ``"tokens"``: the backbone's own token pooling) is fixed at build time from a shape
    probe, so no Python control flow depends on traced tensor values (fx-traceable).
    ``forward_head(pre_logits=True)`` returns the input of ``head.fc`` (timm's contract:
    the features before the final classifier), whose width is ``head_hidden_size``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        *,
        num_classes: int,
        num_features: int,
        head_hidden_size: int | None = None,
        in_chans: int = 3,
        pool_kind: str = "map",
        global_pool: str = "avg",
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.features_out = nn.Identity()  # a hook point for the last feature map (features_only)
        self.global_pool = _make_pool(global_pool if pool_kind == "map" else "")
        self.head = head
        self.num_classes = num_classes
        self.num_features = num_features
        self.head_hidden_size = head_hidden_size or num_features
        self.in_chans = in_chans
        self.pool_kind = pool_kind
        self.pool_type = global_pool if pool_kind == "map" else pool_kind
        self.feature_info: list[dict] = []  # set by the family factory from its shape probe
        self.frozen_units: list[str] = []  # module paths, set by medzoo.zoo.architectures.freeze

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_out(self.backbone.forward_features(x))

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        """Global pooling by the kind fixed at build time (average for maps by default)."""
        if self.pool_kind == "tokens":
            return self.backbone.forward_head(features, pre_logits=True)
        return self.global_pool(features)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.pool_type == "":  # pooling removed (reset_classifier(0, "")): the unpooled features
            return features
        x = self.head.body(self.pool(features))
        return x if pre_logits else self.head.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A new ``head.fc`` for ``num_classes`` (0: none) on the same device/dtype; the head's body is kept."""
        from medzoo.errors import ConfigError

        if global_pool is not None:
            if self.pool_kind != "map" and global_pool not in ("", self.pool_kind):
                raise ConfigError(
                    f"global_pool must be '' for a backbone that pools itself ({self.pool_kind}), "
                    f"got global_pool={global_pool!r}"
                )
            if global_pool == "" and num_classes:
                raise ConfigError(
                    f"global_pool='' leaves unpooled features: num_classes must be 0, got {num_classes}"
                )
            if self.pool_kind == "map":
                self.global_pool = _make_pool(global_pool)
            self.pool_type = global_pool if global_pool == "" or self.pool_kind == "map" else self.pool_kind
        reference = next(self.parameters(), None)
        fc: nn.Module = nn.Linear(self.head_hidden_size, num_classes) if num_classes > 0 else nn.Identity()
        if reference is not None:
            fc = fc.to(device=reference.device, dtype=reference.dtype)
        fc.train(self.training)
        self.head.fc = fc
        self.num_classes = num_classes

    def train(self, mode: bool = True) -> MedzooNet:
        super().train(mode)
        for path in self.frozen_units:
            target = _module_or_none(self, path)
            if target is not None:
                target.eval()
        return self


POOL_TYPES = ("avg", "max", "avgmax", "")


def _make_pool(pool_type: str) -> nn.Module:
    """timm's adaptive pooling ('avg', 'max', 'avgmax'), flattened; '' keeps the maps.

    'catavgmax' is refused: it doubles the width the head was built for.
    """
    from medzoo.errors import ConfigError

    if pool_type not in POOL_TYPES:
        raise ConfigError(f"global_pool must be one of {', '.join(map(repr, POOL_TYPES))}, got {pool_type!r}")
    if pool_type == "":
        return nn.Identity()
    from timm.layers import SelectAdaptivePool2d

    return SelectAdaptivePool2d(pool_type=pool_type, flatten=True)


def feature_levels(shapes: dict[str, tuple[int, ...]], input_hw: tuple[int, int]) -> list[dict]:
    """timm feature_info from probed output shapes (in forward order): the last module of each
    reduction (a power of two), at most the last five levels."""
    import math

    by_reduction: dict[int, dict] = {}
    for path, shape in shapes.items():
        if len(shape) != 4 or shape[-1] < 1:
            continue
        reduction = 2 ** max(0, round(math.log2(input_hw[1] / shape[-1])))
        if by_reduction and reduction < max(by_reduction):
            continue  # a later module at a finer scale (none in these families) would not be a stage end
        by_reduction[reduction] = {"num_chs": int(shape[1]), "reduction": reduction, "module": path}
    return [by_reduction[r] for r in sorted(by_reduction)][-5:]


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


def _feature_net_base() -> type:
    from timm.models import FeatureHookNet

    return FeatureHookNet


class MedzooFeatures(_feature_net_base()):
    """``features_only=True``: timm's hook-based wrapper, the model left as built (no rewrite).

    timm's default ``out_indices`` (0..4) become every level the family has (3 to 5).
    """

    def __init__(self, model: nn.Module, out_indices=(0, 1, 2, 3, 4), **kwargs) -> None:
        from medzoo.errors import ModelError

        levels = len(getattr(model, "feature_info", None) or ())
        if not levels:
            raise ModelError(
                f"{type(model.backbone).__name__} has no spatial feature maps (token or vector features), "
                "so features_only=True cannot hold for it",
                fix="use forward_features() or forward_head(pre_logits=True)",
            )
        if tuple(out_indices) == (0, 1, 2, 3, 4):
            out_indices = tuple(range(levels))
        kwargs.pop("flatten_sequential", None)
        super().__init__(model, out_indices=out_indices, no_rewrite=True, **kwargs)
