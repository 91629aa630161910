"""Families that are plain timm backbones (the studies' baselines), with medzoo heads.

Each takes timm's own preprocessing (input size, mean/std, interpolation, crop)
from the backbone's default pretrained config, so the weights and the transform
that fits them travel together.
"""

from __future__ import annotations

from typing import Any

from medzoo.zoo.architectures.families import Family, register_family
from medzoo.zoo.architectures.pretrained import create_timm


def timm_backbone(
    timm_name: str,
    *,
    pretrained: bool,
    in_chans: int = 3,
    img_size: Any = None,
    cache_dir: str | None = None,
    global_pool: str = "",
    fixed_input_size: bool = False,
    strip: tuple[str, ...] = (),
    num_features: int | None = None,
):
    """A timm model without classifier; ``strip`` replaces modules (e.g. VGG's 4096-wide pre-logits) by Identity."""
    from torch import nn

    kwargs: dict[str, Any] = {"num_classes": 0, "global_pool": global_pool, "in_chans": in_chans}
    if fixed_input_size and img_size is not None:
        kwargs["img_size"] = img_size
    model = create_timm(timm_name, pretrained=pretrained, cache_dir=cache_dir, **kwargs)
    for name in strip:
        setattr(model, name, nn.Identity())
    return model, num_features or model.num_features


def _timm_cfg(timm_name: str) -> dict[str, Any]:
    import timm

    cfg = timm.models.get_pretrained_cfg(timm_name)
    return {
        "input_size": tuple(cfg.input_size),
        "mean": tuple(cfg.mean),
        "std": tuple(cfg.std),
        "interpolation": cfg.interpolation,
        "crop_pct": cfg.crop_pct,
    }


def timm_family(
    name: str,
    timm_name: str,
    *,
    cam_layer: str,
    freeze_units: tuple[str, ...],
    build_kwargs: dict[str, Any] | None = None,
    **fields: Any,
) -> Family:
    from functools import partial

    return register_family(
        Family(
            name=name,
            build=partial(timm_backbone, timm_name, **(build_kwargs or {})),
            source="timm",
            cam_layer=cam_layer,
            freeze_units=freeze_units,
            backbone=timm_name,
            **{**_timm_cfg(timm_name), **fields},
        )
    )


def _effnet_units(n_blocks: int) -> tuple[str, ...]:
    return (
        "backbone.conv_stem+backbone.bn1",
        *(f"backbone.blocks.{i}" for i in range(n_blocks)),
        "backbone.conv_head+backbone.bn2",
    )


_BRAIN = {"paper": "brain-effnet", "study_num_classes": 3, "study_head": "gap_dropout"}

for _b in range(5):
    timm_family(
        f"efficientnet_b{_b}",
        f"efficientnet_b{_b}",
        cam_layer="backbone.bn2",
        freeze_units=_effnet_units(7),
        description=f"EfficientNet-B{_b} (timm efficientnet_b{_b})",
        **_BRAIN,
    )

timm_family(
    "efficientnetv2_s",
    "tf_efficientnetv2_s",
    cam_layer="backbone.bn2",
    freeze_units=_effnet_units(6),
    paper="all-effnetv2-dsp",
    study_num_classes=4,
    study_head="linear",
    input_size=(3, 224, 224),
    description="EfficientNetV2-S at the ALL study's 224 px (timm trains it at 300), timm tf_efficientnetv2_s: the official Google architecture "
    "(21.46M params with 1000 classes, the leukaemia study's reported 21.45M); efficientnetv2_rw_s is Ross Wightman's 23.9M variant",
)

timm_family(
    "vgg16",
    "vgg16",
    cam_layer="backbone.features.29",
    freeze_units=(
        "backbone.features.0+backbone.features.2",
        "backbone.features.5+backbone.features.7",
        "backbone.features.10+backbone.features.12+backbone.features.14",
        "backbone.features.17+backbone.features.19+backbone.features.21",
        "backbone.features.24+backbone.features.26+backbone.features.28",
    ),
    build_kwargs={"strip": ("pre_logits",), "num_features": 512},
    paper="brain-effnet, cxr-aernet",
    study_num_classes=3,
    study_head="gap_dropout",
    description="VGG16 conv layers (timm vgg16); the 4096-wide FC layers are replaced by the chosen head",
)

_RESNET_UNITS = (
    "backbone.conv1+backbone.bn1",
    "backbone.layer1",
    "backbone.layer2",
    "backbone.layer3",
    "backbone.layer4",
)
timm_family(
    "resnet34",
    "resnet34",
    cam_layer="backbone.layer4",
    freeze_units=_RESNET_UNITS,
    paper="all-effnetv2-dsp",
    study_num_classes=4,
    description="ResNet-34 (timm resnet34)",
)
timm_family(
    "resnet50",
    "resnet50",
    cam_layer="backbone.layer4",
    freeze_units=_RESNET_UNITS,
    paper="mammo-xception, cxr-aernet",
    study_num_classes=2,
    study_head="mlp_bn",
    description="ResNet-50 (timm resnet50)",
)
timm_family(
    "resnetv2_152",
    "resnetv2_152",
    cam_layer="backbone.norm",
    freeze_units=(
        "backbone.stem",
        "backbone.stages.0",
        "backbone.stages.1",
        "backbone.stages.2",
        "backbone.stages.3",
        "backbone.norm",
    ),
    paper="brain-effnet",
    study_num_classes=3,
    study_head="gap_dropout",
    description="ResNet152V2, pre-activation (timm resnetv2_152; timm publishes no ImageNet weights for it)",
)
timm_family(
    "vit_base_patch16_224",
    "vit_base_patch16_224",
    cam_layer="backbone.blocks.11.norm1",
    cam_reshape="vit",
    freeze_units=(
        "backbone.patch_embed+backbone.cls_token+backbone.pos_embed",
        *(f"backbone.blocks.{i}" for i in range(12)),
        "backbone.norm",
    ),
    build_kwargs={"global_pool": "token", "fixed_input_size": True},
    fixed_input_size=True,
    min_input_size=16,
    paper="brain-effnet, all-effnetv2-dsp",
    study_num_classes=3,
    study_head="gap_dropout",
    description="ViT-B/16 (timm vit_base_patch16_224); the head pools the class token",
)
timm_family(
    "xception",
    "legacy_xception",
    cam_layer="backbone.act4",
    freeze_units=(
        "backbone.conv1+backbone.bn1+backbone.conv2+backbone.bn2",
        *(f"backbone.block{i}" for i in range(1, 13)),
        "backbone.conv3+backbone.bn3+backbone.conv4+backbone.bn4",
    ),
    paper="mammo-xception",
    study_num_classes=2,
    study_head="mlp_bn",
    min_input_size=71,
    description="Xception, timm legacy_xception: the original (Keras) Xception ported with its weights; "
    "timm xception41/65/71 are the aligned DeepLab variants",
)
timm_family(
    "inception_v3",
    "inception_v3",
    cam_layer="backbone.Mixed_7c",
    freeze_units=(
        "backbone.Conv2d_1a_3x3+backbone.Conv2d_2a_3x3+backbone.Conv2d_2b_3x3",
        "backbone.Conv2d_3b_1x1+backbone.Conv2d_4a_3x3",
        *(f"backbone.Mixed_{m}" for m in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c")),
    ),
    paper="mammo-xception",
    study_num_classes=2,
    study_head="mlp_bn",
    min_input_size=75,
    description="Inception-v3 (timm inception_v3)",
)
timm_family(
    "densenet121",
    "densenet121",
    cam_layer="backbone.features.norm5",
    freeze_units=(
        "backbone.features.conv0+backbone.features.norm0",
        *(f"backbone.features.denseblock{i}+backbone.features.transition{i}" for i in (1, 2, 3)),
        "backbone.features.denseblock4+backbone.features.norm5",
    ),
    paper="cxr-aernet",
    study_num_classes=14,
    description="DenseNet-121 (timm densenet121)",
)
timm_family(
    "mobilenetv2_100",
    "mobilenetv2_100",
    cam_layer="backbone.bn2",
    freeze_units=_effnet_units(7),
    paper="mammo-xception",
    study_num_classes=2,
    study_head="mlp_bn",
    description="MobileNetV2 1.0 (timm mobilenetv2_100)",
)
