"""AERNet (the ChestX-ray14 study): ResNet-50 with CBAM on each residual stage.

CBAM (channel attention from an avg- and max-pooled shared MLP, then a 7x7
spatial attention) is timm's ``CbamModule``; it refines the output of each of the
four stages. ``cbam=False`` gives plain ResNet-50 features (the ablation's base).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from medzoo.zoo.architectures.families import Family, register_family

_STEM = ("conv1", "bn1", "act1", "maxpool")


class AERNetFeatures(nn.Module):
    def __init__(self, resnet: nn.Module, *, cbam: bool = True, reduction: int = 16) -> None:
        super().__init__()
        from timm.layers.cbam import CbamModule

        for name in (*_STEM, "layer1", "layer2", "layer3", "layer4"):
            self.add_module(name, getattr(resnet, name))
        for i in range(1, 5):
            chs = getattr(self, f"layer{i}")[-1].conv3.out_channels
            self.add_module(f"cbam{i}", CbamModule(chs, rd_ratio=1 / reduction) if cbam else nn.Identity())

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for name in _STEM:
            x = getattr(self, name)(x)
        for i in range(1, 5):
            x = getattr(self, f"cbam{i}")(getattr(self, f"layer{i}")(x))
        return x


def aernet_backbone(
    *,
    pretrained: bool,
    in_chans: int = 3,
    img_size: Any = None,
    cache_dir: str | None = None,
    cbam: bool = True,
    reduction: int = 16,
):
    from medzoo.zoo.architectures.pretrained import create_timm

    resnet = create_timm(
        "resnet50",
        pretrained=pretrained,
        cache_dir=cache_dir,
        num_classes=0,
        global_pool="",
        in_chans=in_chans,
    )
    return AERNetFeatures(resnet, cbam=cbam, reduction=reduction), 2048


register_family(
    Family(
        name="aernet",
        build=aernet_backbone,
        source="medzoo",
        backbone="resnet50",
        cam_layer="backbone.cbam4",
        freeze_units=(
            "backbone.conv1+backbone.bn1",
            *(f"backbone.layer{i}+backbone.cbam{i}" for i in range(1, 5)),
        ),
        default_head="fc_relu_dropout",
        options={"cbam": True, "reduction": 16},
        paper="cxr-aernet",
        study_num_classes=14,
        study_head="fc_relu_dropout",
        description="ResNet-50 + CBAM after each residual stage, head GAP -> FC -> ReLU -> Dropout -> FC",
    )
)
