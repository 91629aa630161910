"""The architecture families: one registry, one factory (timm's style).

A :class:`Family` is a frozen description: how to build the backbone, the input
it expects (preprocessing travels with the weights), the Grad-CAM layer, the
heads it offers and the units that can be frozen. ``create_model`` builds every
family through timm as ``medzoo_<family>``, so the same kwargs (``model.medzoo
["model_args"]``) rebuild it with timm alone and zoo entries load with
``timm.create_model("local-dir:<entry>", pretrained=True)``.

Importing this module registers the families and their timm entrypoints; no
model is built at import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from medzoo.errors import ConfigError
from medzoo.registry import Registry
from medzoo.zoo.architectures.heads import HEADS, build_head

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class Family:
    """How to build one architecture family, and what travels with its weights."""

    name: str
    #: backbone(*, pretrained, in_chans, img_size, cache_dir, **options) -> (module with forward_features, num_features)
    build: Callable[..., tuple[Any, int]]
    source: str  # "timm" | "torchvision" | "medzoo"
    cam_layer: str  # dotted path inside the built model
    freeze_units: tuple[str, ...]  # ordered; the stem is the first; a unit may join paths with "+"
    input_size: tuple[int, int, int] = (3, 224, 224)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bicubic"
    crop_pct: float = 0.875
    cam_reshape: str | None = None  # "vit": tokens -> (B, C, H/16, W/16), prefix tokens dropped
    heads: tuple[str, ...] = HEADS
    default_head: str = "linear"
    options: dict[str, Any] = field(default_factory=dict)  # family kwargs and their defaults
    fixed_input_size: bool = False  # the input size is part of the architecture (ViT)
    min_input_size: int = 32
    backbone: str = ""  # timm / torchvision name the weights come from
    paper: str = ""  # recipe id(s) of the studies that use it
    study_num_classes: int | None = None  # for the families table: the study's head size
    study_head: str | None = None
    description: str = ""

    def default_pretrained_cfg(
        self, *, num_classes: int, img_size: int | Sequence[int] | None = None
    ) -> dict:
        """timm's pretrained_cfg for this family at ``img_size`` (default: the family's)."""
        h, w = _hw(img_size) if img_size is not None else self.input_size[1:]
        return {
            "architecture": f"medzoo_{self.name}",
            "input_size": (self.input_size[0], h, w),
            "mean": self.mean,
            "std": self.std,
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
            "num_classes": num_classes,
            "classifier": "head.fc",
            "fixed_input_size": self.fixed_input_size,
            "license": "apache-2.0",
        }


FAMILIES: Registry[Family] = Registry("architecture family")


def register_family(family: Family) -> Family:
    """Add a family and its timm entrypoint ``medzoo_<name>``; duplicate names raise."""
    if family.default_head not in family.heads:
        raise ConfigError(f"default_head must be one of the family's heads, got {family.default_head!r}")
    FAMILIES.add(family.name, family)
    from medzoo.zoo.architectures.timm_bridge import register_timm_entrypoint

    register_timm_entrypoint(family.name)
    return family


def list_families() -> list[str]:
    return FAMILIES.names()


def get_family(name: str) -> Family:
    return FAMILIES.get(name)


def _hw(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    size = tuple(int(s) for s in size)
    return (size[-2], size[-1]) if len(size) >= 2 else (size[0], size[0])


def model_args(
    family: Family,
    *,
    head: str | None = None,
    dropout: float = 0.0,
    freeze: int = 0,
    hidden: int | Sequence[int] | None = None,
    img_size: int | Sequence[int] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """Validated, JSON-friendly kwargs that rebuild the model through timm."""
    unknown = sorted(set(kw) - set(family.options) - {"in_chans"})
    if unknown:
        known = ", ".join(sorted(family.options)) or "none"
        raise ConfigError(f"family {family.name!r} does not take {', '.join(unknown)} (its options: {known})")
    if not 0 <= int(freeze) <= len(family.freeze_units):
        raise ConfigError(
            f"0 <= freeze <= {len(family.freeze_units)} must hold for family {family.name!r} (its freeze units: "
            f"{', '.join(family.freeze_units)}), got freeze={freeze}"
        )
    head = head or family.default_head
    if head not in family.heads:
        import difflib

        close = difflib.get_close_matches(head, family.heads, n=1)
        raise ConfigError(
            f"head must be one of {', '.join(family.heads)} for {family.name!r}, got head={head!r}"
            + (f"; did you mean {close[0]!r}?" if close else "")
        )
    args: dict[str, Any] = {"head": head, "dropout": float(dropout), "freeze": int(freeze)}
    if hidden is not None:
        args["hidden"] = [hidden] if isinstance(hidden, int) else [int(h) for h in hidden]
    if img_size is not None:
        h, w = _hw(img_size)
        if min(h, w) < family.min_input_size:
            raise ConfigError(
                f"img_size >= {family.min_input_size} must hold for {family.name!r}, got img_size={img_size}"
            )
        args["img_size"] = h if h == w else [h, w]
    if kw.get("in_chans", 3) != 3:
        args["in_chans"] = int(kw["in_chans"])
    args.update({k: v for k, v in kw.items() if k != "in_chans"})
    return args


def build_model(
    family: Family,
    *,
    num_classes: int = 1000,
    head: str | None = None,
    dropout: float = 0.0,
    freeze: int = 0,
    hidden: int | Sequence[int] | None = None,
    img_size: int | Sequence[int] | None = None,
    in_chans: int = 3,
    backbone_pretrained: bool = False,
    cache_dir: str | None = None,
    **kw: Any,
):
    """Build the module (timm's entrypoint calls this through build_model_with_cfg)."""
    from medzoo.zoo.architectures.freeze import freeze as freeze_units
    from medzoo.zoo.architectures.models.base import MedzooNet

    args = model_args(
        family,
        head=head,
        dropout=dropout,
        freeze=freeze,
        hidden=hidden,
        img_size=img_size,
        in_chans=in_chans,
        **kw,
    )
    options = {**family.options, **kw}
    if isinstance(img_size, (list, tuple)) and len(img_size) == 2:
        img_size = tuple(img_size)
    backbone, num_features = family.build(
        pretrained=backbone_pretrained,
        in_chans=in_chans,
        img_size=img_size,
        cache_dir=cache_dir,
        **options,
    )
    net = MedzooNet(
        backbone,
        build_head(args["head"], num_features, num_classes, dropout=args["dropout"], hidden=hidden),
        num_classes=num_classes,
        num_features=num_features,
    )
    freeze_units(net, family.freeze_units, args["freeze"], family=family.name)
    net.medzoo = {
        "family": family.name,
        "cam_layer": family.cam_layer,
        "cam_reshape": family.cam_reshape,
        "head": args["head"],
        "model_args": args,
    }
    return net


def create_model(
    name: str,
    *,
    num_classes: int,
    pretrained: bool = False,
    head: str | None = None,
    dropout: float = 0.0,
    freeze: int = 0,
    hidden: int | Sequence[int] | None = None,
    img_size: int | Sequence[int] | None = None,
    **kw: Any,
):
    """Build family ``name`` with ``num_classes`` logits (multi-label: one logit per label).

    ``pretrained`` loads the backbone's ImageNet weights through timm's Hugging Face
    path (torchvision's URLs for its families); offline it raises
    PretrainedWeightsUnavailable instead of hanging.
    """
    import timm

    family = get_family(name)
    args = model_args(
        family, head=head, dropout=dropout, freeze=freeze, hidden=hidden, img_size=img_size, **kw
    )
    return timm.create_model(f"medzoo_{name}", pretrained=pretrained, num_classes=num_classes, **args)


def _register_all() -> None:
    from medzoo.zoo.architectures.models import (  # noqa: F401 - each registers its families
        aernet,
        efficientnetv2_dsp,
        timm_families,
        tiny,
        torchvision_families,
        xception_variants,
    )


_register_all()
