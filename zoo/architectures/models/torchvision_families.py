"""GoogLeNet, ShuffleNetV2 and AlexNet from torchvision (timm has none of them).

Their feature layers are adopted under torchvision's own names (so torchvision's
ImageNet weights load unchanged) and get the same heads, freezing, CAM layer and
pretrained_cfg as every other family. ReLUs are made out-of-place so Grad-CAM can
hook the last activation.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from medzoo.errors import ModelError
from medzoo.zoo.architectures.families import Family, register_family

_GOOGLENET_PARTS = (
    "conv1",
    "maxpool1",
    "conv2",
    "conv3",
    "maxpool2",
    "inception3a",
    "inception3b",
    "maxpool3",
    "inception4a",
    "inception4b",
    "inception4c",
    "inception4d",
    "inception4e",
    "maxpool4",
    "inception5a",
    "inception5b",
)
_SHUFFLENET_PARTS = ("conv1", "maxpool", "stage2", "stage3", "stage4", "conv5")


def _googlenet_transform_input(x):
    """torchvision's GoogLeNet weights expect this re-scaling of ImageNet-normalised input (TF port)."""
    import torch

    x0 = x[:, 0:1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
    x1 = x[:, 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
    x2 = x[:, 2:3] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
    return torch.cat((x0, x1, x2), 1)


def _adopt(
    name: str, model: Any, parts: tuple[str, ...], *, pretrained: bool, weights: Any, preprocess: Any = None
):
    from medzoo.zoo.architectures.models.base import SequentialFeatures, no_inplace_relu
    from medzoo.zoo.architectures.pretrained import torchvision_state_dict

    if pretrained:
        state = torchvision_state_dict(name, weights)
        keep = {k: v for k, v in state.items() if k.split(".")[0] in parts}
        model.load_state_dict(keep, strict=False)
        missing = [k for k in model.state_dict() if k.split(".")[0] in parts and k not in keep]
        if missing:
            raise ModelError(
                f"torchvision weights for {name} lack {len(missing)} feature tensors, e.g. {missing[0]}"
            )
    return no_inplace_relu(SequentialFeatures([(p, getattr(model, p)) for p in parts], preprocess=preprocess))


def _check_in_chans(name: str, in_chans: int) -> None:
    if in_chans != 3:
        raise ModelError(
            f"{name} (torchvision) takes 3 input channels, got in_chans={in_chans}",
            fix="repeat grey images to 3 channels (the dataset loaders do)",
        )


def googlenet_backbone(
    *, pretrained: bool, in_chans: int = 3, img_size: Any = None, cache_dir: str | None = None
):
    from torchvision.models import GoogLeNet_Weights, googlenet

    _check_in_chans("googlenet", in_chans)
    model = googlenet(weights=None, aux_logits=False, init_weights=not pretrained, transform_input=False)
    return _adopt(
        "googlenet",
        model,
        _GOOGLENET_PARTS,
        pretrained=pretrained,
        weights=GoogLeNet_Weights.IMAGENET1K_V1,
        preprocess=_googlenet_transform_input,
    ), 1024


def shufflenet_backbone(
    width: str, *, pretrained: bool, in_chans: int = 3, img_size: Any = None, cache_dir: str | None = None
):
    """``width`` "x1_0" or "x0_5" (the ALL study's 1.37M / 0.04 GFLOPs ShuffleNetV2 is x0.5)."""
    from torchvision import models

    name = f"shufflenet_v2_{width}"
    _check_in_chans(name, in_chans)
    weights = getattr(models, f"ShuffleNet_V2_{width.upper()}_Weights").IMAGENET1K_V1
    return _adopt(
        name, getattr(models, name)(weights=None), _SHUFFLENET_PARTS, pretrained=pretrained, weights=weights
    ), 1024


def alexnet_backbone(
    *,
    pretrained: bool,
    in_chans: int = 3,
    img_size: Any = None,
    cache_dir: str | None = None,
    fc_layers: bool = False,
):
    """``fc_layers=True`` keeps AlexNet's own 6x6 pooling and two 4096-wide FC layers (61.1M params with
    1000 classes, as the ALL study counts it); the chosen head then replaces only the last Linear."""
    from torch import nn
    from torchvision.models import AlexNet_Weights, alexnet

    _check_in_chans("alexnet", in_chans)
    model = alexnet(weights=None)
    if not fc_layers:
        return _adopt(
            "alexnet", model, ("features",), pretrained=pretrained, weights=AlexNet_Weights.IMAGENET1K_V1
        ), 256
    model.flatten = nn.Flatten()
    model.classifier = nn.Sequential(*list(model.classifier)[:-1])  # keeps torchvision's indices 0-5
    return _adopt(
        "alexnet",
        model,
        ("features", "avgpool", "flatten", "classifier"),
        pretrained=pretrained,
        weights=AlexNet_Weights.IMAGENET1K_V1,
    ), 4096


_TV = {"source": "torchvision", "interpolation": "bilinear", "crop_pct": 0.875}

register_family(
    Family(
        name="googlenet",
        build=googlenet_backbone,
        cam_layer="backbone.inception5b",
        backbone="googlenet",
        freeze_units=(
            "backbone.conv1+backbone.conv2+backbone.conv3",
            "backbone.inception3a+backbone.inception3b",
            *(f"backbone.inception4{c}" for c in "abcde"),
            "backbone.inception5a+backbone.inception5b",
        ),
        paper="glioma-googlenet, all-effnetv2-dsp, cxr-aernet",
        study_num_classes=2,
        study_head="fc_1024_128",
        description="GoogLeNet / Inception-v1 (torchvision googlenet, no auxiliary heads)",
        **_TV,
    )
)
for _width, _note in (
    ("x1_0", "ShuffleNetV2 1.0x (torchvision)"),
    (
        "x0_5",
        "ShuffleNetV2 0.5x (torchvision): the size whose 1.37M params / 0.04 GFLOPs the ALL study reports",
    ),
):
    register_family(
        Family(
            name=f"shufflenet_v2_{_width}",
            build=partial(shufflenet_backbone, _width),
            cam_layer="backbone.conv5",
            backbone=f"shufflenet_v2_{_width}",
            freeze_units=(
                "backbone.conv1",
                "backbone.stage2",
                "backbone.stage3",
                "backbone.stage4",
                "backbone.conv5",
            ),
            paper="all-effnetv2-dsp",
            study_num_classes=4,
            description=_note,
            **_TV,
        )
    )
register_family(
    Family(
        name="alexnet",
        build=alexnet_backbone,
        cam_layer="backbone.features.11",
        backbone="alexnet",
        freeze_units=tuple(f"backbone.features.{i}" for i in (0, 3, 6, 8, 10)),
        min_input_size=63,
        options={"fc_layers": False},
        paper="all-effnetv2-dsp, cxr-aernet",
        study_num_classes=4,
        description="AlexNet (torchvision alexnet): conv layers + the chosen head; fc_layers=True keeps its 4096-wide FCs",
        **_TV,
    )
)
