"""Xception and the mammography study's Xception-A/B/C (the CBIS-DDSM mammography study).

- ``xception_a``: the shortcuts of the 3 entry-flow blocks and the first exit-flow
  block use :class:`PoolShortcut` (2x2 max-pool, then a stride-1 1x1 conv).
- ``xception_b``: an SE block after each of the last two separable convs.
- ``xception_c``: both.
Built from timm's ``legacy_xception`` (the original Keras Xception and its weights);
the changes are applied after the ImageNet weights load, so they start pretrained.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from medzoo.zoo.architectures.families import INCEPTION_MEAN, INCEPTION_STD, Family, register_family

_STEM = ("conv1", "bn1", "act1", "conv2", "bn2", "act2")
_BLOCKS = tuple(f"block{i}" for i in range(1, 13))
POOLED_BLOCKS = ("block1", "block2", "block3", "block12")


class XceptionFeatures(nn.Module):
    """legacy_xception's feature layers (same names, same weights) with the study's two switches."""

    def __init__(self, xception: nn.Module, *, pool_shortcut: bool = False, se_exit: bool = False) -> None:
        super().__init__()
        from timm.layers import SEModule

        from medzoo.zoo.architectures.layers.pool_shortcut import PoolShortcut

        for name in (*_STEM, *_BLOCKS, "conv3", "bn3", "act3", "conv4", "bn4", "act4"):
            self.add_module(name, getattr(xception, name))
        if pool_shortcut:
            for name in POOLED_BLOCKS:
                block = getattr(self, name)
                block.skip = PoolShortcut.from_conv(block.skip)
        self.se3 = SEModule(1536, rd_ratio=1 / 16) if se_exit else nn.Identity()
        self.se4 = SEModule(2048, rd_ratio=1 / 16) if se_exit else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for name in (*_STEM, *_BLOCKS):
            x = getattr(self, name)(x)
        x = self.se3(self.act3(self.bn3(self.conv3(x))))
        return self.se4(self.act4(self.bn4(self.conv4(x))))


def xception_backbone(
    *,
    pretrained: bool,
    in_chans: int = 3,
    img_size: Any = None,
    cache_dir: str | None = None,
    pool_shortcut: bool = False,
    se_exit: bool = False,
):
    from medzoo.zoo.architectures.pretrained import create_timm

    base = create_timm(
        "legacy_xception",
        pretrained=pretrained,
        cache_dir=cache_dir,
        num_classes=0,
        global_pool="",
        in_chans=in_chans,
    )
    return XceptionFeatures(base, pool_shortcut=pool_shortcut, se_exit=se_exit), 2048


def _register(name: str, *, pool_shortcut: bool, se_exit: bool, description: str) -> None:
    exit_unit = "backbone.conv3+backbone.bn3+backbone.conv4+backbone.bn4"
    register_family(
        Family(
            name=name,
            build=partial(xception_backbone, pool_shortcut=pool_shortcut, se_exit=se_exit),
            source="medzoo",
            backbone="legacy_xception",
            cam_layer="backbone.se4" if se_exit else "backbone.act4",
            freeze_units=(
                "backbone.conv1+backbone.bn1+backbone.conv2+backbone.bn2",
                *(f"backbone.{b}" for b in _BLOCKS),
                exit_unit + ("+backbone.se3+backbone.se4" if se_exit else ""),
            ),
            input_size=(3, 299, 299),
            mean=INCEPTION_MEAN,
            std=INCEPTION_STD,
            crop_pct=0.8975,
            default_head="mlp_bn",
            min_input_size=71,
            paper="mammo-xception",
            study_num_classes=2,
            study_head="mlp_bn",
            description=description,
        )
    )


_register(
    "xception_a",
    pool_shortcut=True,
    se_exit=False,
    description="Xception-A: max-pool + 1x1 conv shortcuts in the entry flow and first exit block",
)
_register(
    "xception_b",
    pool_shortcut=False,
    se_exit=True,
    description="Xception-B: SE after the last two separable convs",
)
_register("xception_c", pool_shortcut=True, se_exit=True, description="Xception-C: Xception-A + Xception-B")
