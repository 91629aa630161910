"""Every family as a timm model ``medzoo_<family>``, loading weights the timm way.

The entrypoint hands timm's ``build_model_with_cfg`` a pretrained_cfg: the
family's own (pretrained=True then means the backbone's ImageNet weights), or the
one timm read from a zoo entry's config.json (``local-dir:``/``hf-hub:``), in
which case ``load_pretrained`` loads the entry's model.safetensors into the
whole model (and drops ``head.fc`` when the class count differs).
"""

from __future__ import annotations

from functools import partial
from typing import Any

_WEIGHT_SOURCES = ("file", "url", "hf_hub_id", "state_dict")


def _cfg_dict(cfg: Any) -> dict | None:
    if cfg is None or isinstance(cfg, dict):
        return cfg
    if hasattr(cfg, "to_dict"):
        return cfg.to_dict()
    from medzoo.errors import ModelError

    raise ModelError(
        f"medzoo families have no pretrained tags; got pretrained_cfg={cfg!r}",
        fix="use pretrained=True for ImageNet backbone weights or local-dir:<entry> for a zoo entry",
    )


def _entrypoint(
    family_name: str,
    *,
    pretrained: bool = False,
    pretrained_cfg: Any = None,
    pretrained_cfg_overlay: dict | None = None,
    cache_dir: Any = None,
    pretrained_model_args: dict | None = None,
    **kwargs: Any,
):
    from timm.models import build_model_with_cfg

    from medzoo.zoo.architectures.families import build_model, get_family

    family = get_family(family_name)
    cfg = _cfg_dict(pretrained_cfg)
    from_entry = cfg is not None and any(cfg.get(k) for k in _WEIGHT_SOURCES)
    default = family.default_pretrained_cfg(
        num_classes=kwargs.get("num_classes", 1000), img_size=kwargs.get("img_size")
    )
    # an entry's config.json may hold only input_size/mean/std/...: the family fills in the rest
    # (notably classifier="head.fc", which lets timm re-initialise the head for another class count)
    cfg = default if cfg is None else {**default, **{k: v for k, v in cfg.items() if v is not None}}
    return build_model_with_cfg(
        partial(
            build_model,
            family,
            backbone_pretrained=pretrained and not from_entry,
            cache_dir=str(cache_dir) if cache_dir else None,
        ),
        f"medzoo_{family_name}",
        pretrained=pretrained and from_entry,
        pretrained_cfg=cfg,
        pretrained_cfg_overlay=pretrained_cfg_overlay,
        cache_dir=cache_dir,
        pretrained_model_args=pretrained_model_args,
        **kwargs,
    )


def register_timm_entrypoint(family_name: str) -> None:
    from timm.models import register_model

    def fn(pretrained: bool = False, **kwargs: Any):
        return _entrypoint(family_name, pretrained=pretrained, **kwargs)

    fn.__name__ = fn.__qualname__ = f"medzoo_{family_name}"
    fn.__module__ = __name__
    fn.__doc__ = f"medzoo family {family_name!r} (see medzoo.zoo.get_family({family_name!r}))."
    register_model(fn)
