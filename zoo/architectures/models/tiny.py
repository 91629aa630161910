"""Tiny families for tests and CPU smoke runs: fully featured (heads, freezing, CAM layer), seconds to train."""

from __future__ import annotations

from typing import Any

from medzoo.zoo.architectures.families import Family, register_family
from medzoo.zoo.architectures.models.timm_families import timm_family


def tiny_cnn_backbone(
    *,
    pretrained: bool,
    in_chans: int = 3,
    img_size: Any = None,
    cache_dir: str | None = None,
    width: int = 16,
    depth: int = 3,
):
    """``depth`` conv-BN-ReLU stages (stride 2 each, width doubling up to 8x): ~10k parameters at depth 3."""
    from torch import nn

    from medzoo.errors import ModelError
    from medzoo.zoo.architectures.models.base import SequentialFeatures

    if pretrained:
        raise ModelError(
            "tiny_cnn has no pretrained weights; pretrained=True cannot hold",
            fix="build it with pretrained=False",
        )

    def stage(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
        )

    widths = [width * min(2**i, 8) for i in range(depth)]
    stages = [("stem", stage(in_chans, widths[0]))]
    stages += [(f"stage{i}", stage(widths[i - 1], widths[i])) for i in range(1, depth)]
    return SequentialFeatures(stages), widths[-1]


register_family(
    Family(
        name="tiny_cnn",
        build=tiny_cnn_backbone,
        source="medzoo",
        cam_layer="backbone.stage2",
        freeze_units=("backbone.stem", "backbone.stage1", "backbone.stage2"),
        input_size=(3, 64, 64),
        options={"width": 16},
        min_input_size=8,
        description="three conv stages, for tests and smoke runs",
    )
)

register_family(
    Family(
        name="small_cnn",
        build=tiny_cnn_backbone,
        source="medzoo",
        cam_layer="backbone.stage3",
        freeze_units=(
            "backbone.stem",
            "backbone.stage1",
            "backbone.stage2",
            "backbone.stage3",
            "backbone.stage4",
        ),
        input_size=(3, 64, 64),
        options={"width": 24, "depth": 5},
        min_input_size=32,
        description="five conv stages (~0.5M params): sees the whole 64 px image, for CPU smoke runs and the quickstart",
    )
)

timm_family(
    "tiny_effnet",
    "test_efficientnet",
    cam_layer="backbone.bn2",
    freeze_units=(
        "backbone.conv_stem+backbone.bn1",
        *(f"backbone.blocks.{i}" for i in range(5)),
        "backbone.conv_head+backbone.bn2",
    ),
    input_size=(3, 96, 96),
    description="timm's test_efficientnet (~0.1M params): EfficientNet parts in miniature",
)

timm_family(
    "tiny_resnet",
    "test_resnet",
    cam_layer="backbone.layer4",
    freeze_units=(
        "backbone.conv1+backbone.bn1",
        "backbone.layer1",
        "backbone.layer2",
        "backbone.layer3",
        "backbone.layer4",
    ),
    input_size=(3, 64, 64),
    description="timm's test_resnet (~0.37M params): a ResNet in miniature, trainable at 64 px on CPU in "
    "seconds; with the linear head its entries are timm-native (test_resnet)",
)
