"""Every family as a timm model ``medzoo_<family>``, registered lazily, loading weights the timm way.

Registration waits until timm is there: :func:`install_import_hook` (called by
``import medzoo``) puts a finder on ``sys.meta_path`` that, once ``import timm``
has finished, registers every family; if timm is already imported it registers at
once. ``create_model`` registers too, so nothing depends on the hook. This module
imports neither torch nor timm at module level: ``import medzoo`` stays cheap.

The entrypoint hands timm's ``build_model_with_cfg`` a pretrained_cfg: the
family's own (pretrained=True then means the backbone's ImageNet weights), or the
one timm read from a zoo entry's config.json (``local-dir:``/``hf-hub:``), in
which case ``load_pretrained`` loads the entry's model.safetensors into the
whole model (and drops ``head.fc`` when the class count differs).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import sys
import warnings
from dataclasses import dataclass
from functools import partial
from typing import Any

_WEIGHT_SOURCES = ("file", "url", "hf_hub_id", "state_dict")
_FAMILIES_MODULE = "medzoo.zoo.architectures.families"

#: timm's ``register_model`` reads the default pretrained cfg of ``medzoo_<family>`` from here
default_cfgs: dict[str, dict[str, Any]] = {}
_registered: set[str] = set()


def timm_ready() -> bool:
    """timm is imported completely (not in the middle of its own ``__init__``)."""
    module = sys.modules.get("timm")
    return module is not None and not getattr(getattr(module, "__spec__", None), "_initializing", False)


def register_timm_entrypoint(family: Any) -> None:
    """Register ``medzoo_<family.name>`` and its default pretrained cfg with timm (once)."""
    name = f"medzoo_{family.name}"
    if name in _registered:
        return
    from timm.models import register_model

    default_cfgs[name] = family.default_pretrained_cfg(num_classes=1000)

    def fn(pretrained: bool = False, **kwargs: Any):
        return _entrypoint(family.name, pretrained=pretrained, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = __name__
    fn.__doc__ = f"medzoo family {family.name!r} (see medzoo.zoo.get_family({family.name!r}))."
    register_model(fn)
    _registered.add(name)


def ensure_registered() -> None:
    """Register every family with timm (imports timm and the families; idempotent)."""
    import timm  # noqa: F401  (registration needs timm's registry)

    families = importlib.import_module(_FAMILIES_MODULE)  # partial while the families import: fine
    # the papers' layers register their torch.fx leaf modules with timm (DropBlock, ODConv)
    importlib.import_module("medzoo.zoo.architectures.layers")
    for name in families.list_families():
        register_timm_entrypoint(families.get_family(name))


class _TimmImportHook(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps timm's own loader so registration runs right after ``import timm``."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        if fullname != "timm":
            return None
        _uninstall()
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_then_register(module: Any) -> None:
            try:
                exec_module(module)
            finally:
                with contextlib.suppress(AttributeError):
                    del loader.exec_module  # the loader's own method again (a shared loader stays intact)
            if module.__name__ == "timm":
                module.__spec__._initializing = False  # timm is complete; importlib clears this flag next
                _register_after_import()

        loader.exec_module = exec_then_register  # this spec's own loader instance only
        return spec


def _register_after_import() -> None:
    try:
        ensure_registered()
    except Exception as exc:  # a broken family must not make `import timm` fail
        warnings.warn(f"medzoo could not register its families with timm: {exc}", stacklevel=2)


def _uninstall() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _TimmImportHook)]


def install_import_hook() -> None:
    """Make ``medzoo_<family>`` names resolve in timm without importing timm now.

    If timm is already imported, the families register at once; otherwise they
    register when ``import timm`` completes. Idempotent.
    """
    if "timm" in sys.modules:
        if timm_ready():
            _register_after_import()
        return
    if not any(isinstance(f, _TimmImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _TimmImportHook())


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
    from medzoo.zoo.architectures.models.base import MedzooFeatures, MedzooNet

    family = get_family(family_name)
    cfg = _cfg_dict(pretrained_cfg)
    from_entry = cfg is not None and any(cfg.get(k) for k in _WEIGHT_SOURCES)
    default = family.default_pretrained_cfg(
        num_classes=kwargs.get("num_classes", 1000), img_size=kwargs.get("img_size")
    )
    # an entry's config.json may hold only input_size/mean/std/...: the family fills in the rest
    # (notably classifier="head.fc", which lets timm re-initialise the head for another class count)
    cfg = default if cfg is None else {**default, **{k: v for k, v in cfg.items() if v is not None}}
    model = build_model_with_cfg(
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
        feature_cfg={"feature_cls": MedzooFeatures},
        **kwargs,
    )
    if isinstance(model, MedzooNet):
        _complete_cfg(model)
    return model


def _complete_cfg(model: Any) -> None:
    """Fill the keys only the built model knows: first conv, pool size at the cfg's input size."""
    from medzoo.zoo.architectures.families import probe_pool_size

    cfg = model.pretrained_cfg
    cfg["first_conv"] = model.first_conv
    size = tuple(cfg["input_size"])
    cfg["pool_size"] = model.pool_size if size == model.probed_input_size else probe_pool_size(model, size)


# --- publishing: the timm-native form of a built model ------------------------------------------


@dataclass(frozen=True)
class TimmExport:
    """What a zoo entry's config.json and model.safetensors say about the model, for timm.

    ``architecture`` is timm's own name when timm can build the same network (a timm
    backbone with a head timm has: linear, or dropout + linear where timm takes
    ``drop_rate``); then ``key_map`` renames medzoo's state-dict keys to timm's and
    ``library_name`` is "timm": ``timm.create_model("local-dir:<entry>", pretrained=True)``
    works without medzoo. Otherwise ``medzoo_<family>``, identity keys and "medzoo".
    """

    architecture: str
    model_args: dict[str, Any]
    pretrained_cfg: dict[str, Any]
    library_name: str
    key_map: dict[str, str]  # medzoo state-dict key -> key in the published weights

    def state_dict(self, model: Any) -> dict[str, Any]:
        """The weights to publish, under the published keys (contiguous, ready for safetensors)."""
        return {self.key_map[k]: v.detach().contiguous() for k, v in model.state_dict().items()}

    def to_medzoo(self, state: dict[str, Any]) -> dict[str, Any]:
        """Published weights back under medzoo's keys (for ``medzoo.zoo.load``)."""
        inverse = {v: k for k, v in self.key_map.items()}
        return {inverse.get(k, k): v for k, v in state.items()}


def _pretrained_cfg_fields() -> set[str]:
    import dataclasses

    from timm.models import PretrainedCfg

    return {f.name for f in dataclasses.fields(PretrainedCfg)}


def timm_export(model: Any) -> TimmExport:
    """The timm-native architecture, model_args and pretrained_cfg of a model built by medzoo.

    The zoo calls this when it writes config.json; it writes ``export.state_dict(model)``
    as model.safetensors. Whether timm's architecture is the same network is checked,
    not assumed: timm's model is built on the meta device and must have exactly the
    renamed keys with the same shapes.
    """
    from medzoo.zoo.architectures.families import get_family

    meta = model.medzoo
    family = get_family(meta["family"])
    fields = _pretrained_cfg_fields()
    cfg = {k: v for k, v in model.pretrained_cfg.items() if k in fields and k not in ("file", "source")}
    native = _native(model, family, meta["model_args"])
    if native is None:
        return TimmExport(
            architecture=f"medzoo_{family.name}",
            model_args=dict(meta["model_args"]),
            pretrained_cfg={**cfg, "architecture": f"medzoo_{family.name}"},
            library_name="medzoo",
            key_map={k: k for k in model.state_dict()},
        )
    name, args, key_map, timm_cfg = native
    cfg.update(
        architecture=name,
        classifier=timm_cfg["classifier"],
        first_conv=timm_cfg["first_conv"],
        num_classes=model.num_classes,
    )
    return TimmExport(
        architecture=name, model_args=args, pretrained_cfg=cfg, library_name="timm", key_map=key_map
    )


def _native(model: Any, family: Any, args: dict[str, Any]) -> tuple[str, dict, dict[str, str], dict] | None:
    """(timm name, timm model_args, key map, timm's cfg) when timm builds the same network, else None."""
    import inspect

    import timm
    import torch

    if (
        family.source != "timm"
        or args.get("head") not in ("linear", "gap_dropout")
        or model.pool_kind == "vector"
    ):
        return None
    if set(args) - {"head", "dropout", "freeze", "img_size", "in_chans"} or args.get("global_pool"):
        return None  # family options or a changed pooling: only medzoo builds it
    timm_args: dict[str, Any] = {}
    if args.get("in_chans", 3) != 3:
        timm_args["in_chans"] = args["in_chans"]
    if family.fixed_input_size and "img_size" in args:
        timm_args["img_size"] = args["img_size"]
    if args.get("dropout"):
        timm_args["drop_rate"] = args["dropout"]
    with torch.device("meta"):
        try:
            reference = timm.create_model(family.backbone, num_classes=model.num_classes, **timm_args)
        except TypeError:
            return None  # e.g. no drop_rate in this timm architecture
    if "drop_rate" in timm_args and "drop_rate" not in inspect.signature(type(reference).__init__).parameters:
        return None
    classifier = reference.pretrained_cfg["classifier"]
    key_map = {}
    for key in model.state_dict():
        if key.startswith("backbone."):
            key_map[key] = key.removeprefix("backbone.")
        elif key.startswith("head.fc."):
            key_map[key] = f"{classifier}.{key.removeprefix('head.fc.')}"
        else:
            return None  # parameters in the head's body: not timm's classifier
    ours = {key_map[k]: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    if ours != theirs:
        return None
    return family.backbone, timm_args, key_map, reference.pretrained_cfg


def medzoo_model(*, family: str, num_classes: int, model_args: dict[str, Any], state_dict: dict[str, Any]):
    """medzoo's model (Grad-CAM paths, ``.medzoo`` metadata) from published weights, timm-native or not.

    ``model_args`` are medzoo's (``model.medzoo["model_args"]``, kept in the entry's medzoo
    section); ``state_dict`` may be under timm's keys or medzoo's. Loads strictly.
    """
    from medzoo.errors import ModelError
    from medzoo.zoo.architectures.families import create_model

    model = create_model(family, num_classes=num_classes, **model_args)
    state = timm_export(model).to_medzoo(state_dict)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelError(
            f"weights must match family {family!r} with {model_args}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    return model.eval()
