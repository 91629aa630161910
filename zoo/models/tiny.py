"""Tiny families for tests and CPU smoke runs: fully featured (heads, freezing, CAM layer), seconds to train."""

from __future__ import annotations

from typing import Any

from medzoo.zoo.families import Family, register_family
from medzoo.zoo.models.timm_families import timm_family


def tiny_cnn_backbone(*, pretrained: bool, in_chans: int = 3, img_size: Any = None, cache_dir: str | None = None,
                      width: int = 16):  # noqa: ANN201
    """Three conv-BN-ReLU stages (stride 2 each): ~10k parameters."""
    from medzoo.zoo.models.base import SequentialFeatures
    from torch import nn

    from medzoo.errors import ModelError

    if pretrained:
        raise ModelError("tiny_cnn has no pretrained weights; pretrained=True cannot hold",
                         fix="build it with pretrained=False")

    def stage(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU())

    w = width
    return SequentialFeatures([("stem", stage(in_chans, w)), ("stage1", stage(w, 2 * w)),
                               ("stage2", stage(2 * w, 4 * w))]), 4 * w


register_family(Family(
    name="tiny_cnn", build=tiny_cnn_backbone, source="medzoo", cam_layer="backbone.stage2",
    freeze_units=("backbone.stem", "backbone.stage1", "backbone.stage2"), input_size=(3, 64, 64),
    options={"width": 16}, min_input_size=8, description="three conv stages, for tests and smoke runs",
))

timm_family(
    "tiny_effnet", "test_efficientnet", cam_layer="backbone.bn2",
    freeze_units=("backbone.conv_stem+backbone.bn1", *(f"backbone.blocks.{i}" for i in range(5)),
                  "backbone.conv_head+backbone.bn2"),
    input_size=(3, 96, 96), description="timm's test_efficientnet (~0.1M params): EfficientNet parts in miniature",
)
