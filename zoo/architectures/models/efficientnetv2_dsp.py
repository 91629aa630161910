"""EfficientNet-DSP (the acute lymphoblastic leukaemia smear study): EfficientNetV2-S with SAR, DyDropBlock and Dy-MBConv blocks.

- ``attention``: the attention in every MBConv block (timm's ``se_layer`` slot):
  "sar" (the paper's), or "se" (timm's default, i.e. plain EfficientNetV2-S),
  "eca", "cbam" for the study's attention ablation.
- ``dydropblock``: DropBlock after each of the 6 stages with p rising linearly
  from ``p_start`` to ``p_final`` (identity in eval).
- ``odconv``: Dy-MBConv: the first MBConv block of each MBConv stage (stages 3-5)
  gets an ODConv depthwise conv (``kernel_num`` kernels, started from the
  pretrained kernel) and Dynamic ReLU instead of SiLU.
With ``attention="se", dydropblock=False, odconv=False`` it is tf_efficientnetv2_s.
Every switch is a model arg, so each ablation row is reproducible by name.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from medzoo.errors import ConfigError
from medzoo.zoo.architectures.families import Family, register_family

ATTENTIONS = ("sar", "se", "eca", "cbam")
DY_MBCONV_BLOCKS = ((3, 0), (4, 0), (5, 0))  # (stage, block): the first block of each MBConv stage


def _attention_layer(name: str):
    from timm.layers.cbam import CbamModule
    from timm.layers.eca import EcaModule

    from medzoo.zoo.architectures.layers.sar import ShuffleAttentionResidual

    if name not in ATTENTIONS:
        raise ConfigError(f"attention must be one of {', '.join(ATTENTIONS)}, got attention={name!r}")
    return {"se": None, "sar": ShuffleAttentionResidual, "eca": EcaModule, "cbam": CbamModule}[name]


class EfficientNetDSPFeatures(nn.Module):
    """timm EfficientNet feature layers (same names) with a DropBlock after each stage."""

    def __init__(self, effnet: nn.Module, drop_rates: list[float], *, block_size: int) -> None:
        super().__init__()
        from medzoo.zoo.architectures.layers.dydropblock import DropBlock2d

        for name in ("conv_stem", "bn1", "blocks", "conv_head", "bn2"):
            self.add_module(name, getattr(effnet, name))
        self.drop_blocks = nn.ModuleList(DropBlock2d(p, block_size=block_size) for p in drop_rates)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.conv_stem(x))
        for stage, drop in zip(self.blocks, self.drop_blocks, strict=True):
            x = drop(stage(x))
        return self.bn2(self.conv_head(x))


def make_dy_mbconv(block: nn.Module, *, kernel_num: int) -> nn.Module:
    """Turn a timm InvertedResidual into a Dy-MBConv block in place (ODConv depthwise + Dynamic ReLU)."""
    from medzoo.zoo.architectures.layers.dyrelu import DynamicReLU
    from medzoo.zoo.architectures.layers.odconv import ODConv2d

    dw = block.conv_dw
    same = type(dw).__name__ == "Conv2dSame" or getattr(dw, "padding", None) == "same"
    od = ODConv2d(
        dw.in_channels,
        dw.out_channels,
        dw.kernel_size[0],
        stride=dw.stride[0],
        padding="same" if same else dw.padding[0],
        dilation=dw.dilation[0],
        groups=dw.groups,
        kernel_num=kernel_num,
    )
    block.conv_dw = od.load_from_conv(dw)
    block.bn2.act = DynamicReLU(dw.out_channels)
    return block


def dsp_backbone(
    *,
    pretrained: bool,
    in_chans: int = 3,
    img_size: Any = None,
    cache_dir: str | None = None,
    attention: str = "sar",
    dydropblock: bool = True,
    p_start: float = 0.0,
    p_final: float = 0.1,
    block_size: int = 5,
    odconv: bool = True,
    kernel_num: int = 4,
):
    from medzoo.zoo.architectures.layers.dydropblock import linear_drop_rates
    from medzoo.zoo.architectures.pretrained import create_timm

    kwargs: dict[str, Any] = {"num_classes": 0, "global_pool": "", "in_chans": in_chans}
    layer = _attention_layer(attention)
    if layer is not None:
        kwargs.update(se_layer=layer, pretrained_strict=False)  # the SE weights do not apply to SAR/ECA/CBAM
    effnet = create_timm("tf_efficientnetv2_s", pretrained=pretrained, cache_dir=cache_dir, **kwargs)
    if odconv:
        for stage, index in DY_MBCONV_BLOCKS:
            make_dy_mbconv(effnet.blocks[stage][index], kernel_num=kernel_num)
    rates = linear_drop_rates(len(effnet.blocks), p_start=p_start, p_final=p_final)
    rates = rates if dydropblock else [0.0] * len(rates)
    return EfficientNetDSPFeatures(effnet, rates, block_size=block_size), effnet.num_features


register_family(
    Family(
        name="efficientnetv2_dsp",
        build=dsp_backbone,
        source="medzoo",
        backbone="tf_efficientnetv2_s",
        cam_layer="backbone.bn2",
        freeze_units=(
            "backbone.conv_stem+backbone.bn1",
            *(f"backbone.blocks.{i}" for i in range(6)),
            "backbone.conv_head+backbone.bn2",
        ),
        input_size=(3, 224, 224),
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        options={
            "attention": "sar",
            "dydropblock": True,
            "p_start": 0.0,
            "p_final": 0.1,
            "block_size": 5,
            "odconv": True,
            "kernel_num": 4,
        },
        paper="all-effnetv2-dsp",
        study_num_classes=4,
        study_head="linear",
        description="EfficientNet-DSP: EfficientNetV2-S + SAR attention, DyDropBlock, Dy-MBConv (ODConv + DyReLU)",
    )
)
