"""The architecture families: one registry, one factory (timm's style).

A :class:`Family` is a frozen description: how to build the backbone, the input
it expects (preprocessing travels with the weights), the Grad-CAM layer, the
heads it offers and the units that can be frozen. ``create_model`` builds every
family through timm as ``medzoo_<family>``, so the same kwargs (``model.medzoo
["model_args"]``) rebuild it with timm alone and zoo entries load with
``timm.create_model("local-dir:<entry>", pretrained=True)``.

Importing this module registers the families; their timm entrypoints are
registered once timm is imported (see ``timm_bridge``); no model is built at import.
Every model carries timm's model API (``forward_features``, ``forward_head``,
``reset_classifier``, ``feature_info``, ``features_only=True``) and a complete
``pretrained_cfg``; shapes that only a forward pass knows (pool size, feature
levels) come from one probe on fake tensors, which allocates and computes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
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
            "url": "",
            "hf_hub_id": "",
            "architecture": f"medzoo_{self.name}",
            "input_size": (self.input_size[0], h, w),
            "min_input_size": (self.input_size[0], self.min_input_size, self.min_input_size),
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


class UnknownModelArgError(ConfigError, TypeError):
    """A keyword the family does not take (a TypeError too, as timm's factory contract expects)."""


def register_family(family: Family) -> Family:
    """Add a family; its timm entrypoint ``medzoo_<name>`` now if timm is imported, else when it is."""
    if family.default_head not in family.heads:
        raise ConfigError(f"default_head must be one of the family's heads, got {family.default_head!r}")
    FAMILIES.add(family.name, family)
    from medzoo.zoo.architectures import timm_bridge

    if timm_bridge.timm_ready():
        timm_bridge.register_timm_entrypoint(family)
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
    global_pool: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """Validated, JSON-friendly kwargs that rebuild the model through timm."""
    unknown = sorted(set(kw) - set(family.options) - {"in_chans"})
    if unknown:
        known = ", ".join(sorted(family.options)) or "none"
        raise UnknownModelArgError(
            f"family {family.name!r} does not take {', '.join(unknown)} (its options: {known})"
        )
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
    if global_pool not in (None, "avg"):
        args["global_pool"] = global_pool
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
    global_pool: str | None = None,
    backbone_pretrained: bool = False,
    cache_dir: str | None = None,
    device: Any = None,
    dtype: Any = None,
    **kw: Any,
):
    """Build the module (timm's entrypoint calls this through build_model_with_cfg).

    ``device``/``dtype`` are timm's factory placement (``create_model(..., device="meta")``);
    they are not model args.
    """
    import contextlib

    import torch

    args = model_args(
        family,
        head=head,
        dropout=dropout,
        freeze=freeze,
        hidden=hidden,
        img_size=img_size,
        global_pool=global_pool,
        in_chans=in_chans,
        **kw,
    )
    with torch.device(device) if device is not None else contextlib.nullcontext():
        net = _assemble(
            family,
            args,
            num_classes=num_classes,
            in_chans=in_chans,
            pretrained=backbone_pretrained,
            cache_dir=cache_dir,
            options={**family.options, **kw},
        )
    if dtype is not None:
        net.to(dtype=dtype)
    return net


def _assemble(
    family: Family,
    args: dict[str, Any],
    *,
    num_classes: int,
    in_chans: int,
    pretrained: bool,
    cache_dir: str | None,
    options: dict[str, Any],
):
    """Backbone -> probe its shapes -> MedzooNet with head, pooling, feature levels, freezing, metadata."""
    from medzoo.zoo.architectures.freeze import freeze as freeze_units
    from medzoo.zoo.architectures.models.base import MedzooNet

    img_size = args.get("img_size")
    backbone, num_features = family.build(
        pretrained=pretrained,
        in_chans=in_chans,
        img_size=tuple(img_size) if isinstance(img_size, list) else img_size,
        cache_dir=cache_dir,
        **options,
    )
    h, w = _hw(img_size) if img_size is not None else family.input_size[1:]
    input_size = (in_chans, h, w)
    key = (family.name, repr(sorted(options.items())), input_size)
    if key not in _PROBED:  # shapes depend only on the architecture: probe each once per process
        _PROBED[key] = _probe(backbone, input_size, _feature_candidates(family))
    shapes = dict(_PROBED[key])
    out = shapes.pop("")
    pool_kind = {4: "map", 2: "vector"}.get(len(out), "tokens")
    if args.get("global_pool") == "" and num_classes:
        raise ConfigError(
            f"global_pool='' leaves unpooled features: num_classes must be 0, got num_classes={num_classes}"
        )
    head = build_head(
        args["head"], num_features, num_classes, dropout=args["dropout"], hidden=args.get("hidden")
    )
    net = MedzooNet(
        backbone,
        head,
        num_classes=num_classes,
        num_features=num_features,
        head_hidden_size=head.hidden_size,
        in_chans=in_chans,
        pool_kind=pool_kind,
        global_pool=args.get("global_pool", "avg"),
    )
    _attach_shapes(net, out, shapes, input_size)
    freeze_units(net, family.freeze_units, args["freeze"], family=family.name)
    net.medzoo = {
        "family": family.name,
        "cam_layer": family.cam_layer,
        "cam_reshape": family.cam_reshape,
        "head": args["head"],
        "model_args": args,
    }
    return net


def _attach_shapes(net: Any, out: tuple[int, ...], shapes: dict, input_size: tuple[int, ...]) -> None:
    """What timm reads from a model and only a forward pass knows: feature levels, pool size, first conv."""
    if net.pool_kind == "map":
        from medzoo.zoo.architectures.models.base import feature_levels

        levels = {f"backbone.{path}": shape for path, shape in shapes.items()}
        net.feature_info = feature_levels({**levels, "features_out": out}, input_size[1:])
    net.pool_size = tuple(out[-2:]) if net.pool_kind == "map" else (1, 1)
    net.probed_input_size = input_size
    net.first_conv = _first_conv(net)


_PROBED: dict[tuple, dict[str, tuple[int, ...]]] = {}  # a memo of pure shape results, not state


def _feature_candidates(family: Family) -> list[str]:
    """Where feature levels may be read: the last module of each freeze unit (the stage ends, in order)."""
    paths = [unit.split("+")[-1] for unit in family.freeze_units]
    return [p.removeprefix("backbone.") for p in paths if p.startswith("backbone.")]


def _first_conv(net: Any) -> str:
    from torch import nn

    for name, module in net.named_modules():
        if isinstance(module, nn.Conv2d) or type(module).__name__ in {"Conv2dSame", "PatchEmbed"}:
            return f"{name}.proj" if type(module).__name__ == "PatchEmbed" else name
    return ""


def _probe(backbone: Any, input_size: tuple[int, ...], candidates: list[str]) -> dict[str, tuple[int, ...]]:
    """Output shapes of ``forward_features`` ("") and of each candidate module, from one forward pass on
    fake tensors (meta tensors for a meta-device model): nothing allocated, nothing computed."""
    import contextlib

    import torch

    shapes: dict[str, tuple[int, ...]] = {}

    def record(path: str, module: Any, inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            shapes[path] = tuple(output.shape)

    handles = []
    for path in candidates:
        try:
            module = backbone.get_submodule(path)
        except AttributeError:
            continue  # a parameter (e.g. ViT's cls_token)
        handles.append(module.register_forward_hook(partial(record, path)))
    device = next((p.device for p in backbone.parameters()), torch.device("cpu"))
    was_training = backbone.training
    backbone.eval()
    try:
        if device.type == "meta":
            mode: Any = contextlib.nullcontext()
        else:
            from torch._subclasses.fake_tensor import FakeTensorMode

            mode = FakeTensorMode(allow_non_fake_inputs=True)
        with torch.no_grad(), mode:
            out = backbone.forward_features(torch.empty(1, *input_size, device=device))
        shapes[""] = tuple(out.shape)
    finally:
        for handle in handles:
            handle.remove()
        backbone.train(was_training)
    return {"": shapes.pop(""), **shapes}


def probe_pool_size(net: Any, input_size: Sequence[int]) -> tuple[int, int]:
    """The unpooled feature map's (H, W) at ``input_size`` (C, H, W)."""
    if net.pool_kind != "map":
        return (1, 1)
    return tuple(_probe(net.backbone, tuple(input_size), [])[""][-2:])


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

    from medzoo.zoo.architectures.timm_bridge import ensure_registered

    ensure_registered()
    family = get_family(name)
    args = model_args(
        family, head=head, dropout=dropout, freeze=freeze, hidden=hidden, img_size=img_size, **kw
    )
    return timm.create_model(f"medzoo_{name}", pretrained=pretrained, num_classes=num_classes, **args)


def _install_timm_hook() -> None:
    from medzoo.zoo.architectures.timm_bridge import install_import_hook

    install_import_hook()


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

# families imported before timm still resolve in timm: they register once `import timm` completes
_install_timm_hook()
