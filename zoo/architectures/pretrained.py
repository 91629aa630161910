"""ImageNet weights for backbones: timm's Hugging Face path, torchvision's URLs, and a fast, clear failure.

Offline (``HF_HUB_OFFLINE=1``) or with the host unreachable, nothing hangs on
retries: a :class:`PretrainedWeightsUnavailable` names the cache directory, the
hub repo (or URL) and the two ways forward. ``HF_HUB_OFFLINE`` also stands for
"no network" for torchvision's own downloads.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from medzoo.errors import ModelError, PretrainedWeightsUnavailable

_TRUE = {"1", "true", "yes", "on"}


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache as huggingface_hub resolves it (read at call time, not import time)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join(Path.home(), ".cache")), "huggingface"
    )
    return Path(hf_home).expanduser() / "hub"


def reachable(url: str, *, timeout: float = 3.0) -> bool:
    """A TCP connect to the URL's host: seconds to know, instead of minutes of download retries."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def _hf_unavailable(model_name: str, repo: str, cache: Path, why: str) -> PretrainedWeightsUnavailable:
    return PretrainedWeightsUnavailable(
        f"ImageNet weights for {model_name} (Hugging Face repo {repo}) are not in the cache {cache} "
        f"and cannot be downloaded ({why}). Pre-download them on a connected machine with "
        f"`huggingface-cli download {repo}` and copy that machine's hub cache to {cache} "
        f"(or set HF_HUB_CACHE to it), or build the model with pretrained=False",
        fix=f"huggingface-cli download {repo}",
    )


def create_timm(
    model_name: str, *, pretrained: bool, cache_dir: str | os.PathLike[str] | None = None, **kwargs: Any
):
    """``timm.create_model`` with pretrained weights through timm's own Hugging Face path, failing fast."""
    import timm

    if not pretrained:
        return timm.create_model(model_name, pretrained=False, **kwargs)
    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None or not cfg.has_weights:
        raise ModelError(
            f"timm publishes no ImageNet weights for {model_name} (pretrained tag "
            f"{getattr(cfg, 'tag', None)!r}); pretrained=True cannot hold for this family",
            fix="build it with pretrained=False",
        )
    if cfg.hf_hub_id:
        cache = Path(cache_dir) if cache_dir else hf_cache_dir()
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
        if not _hf_cached(cfg.hf_hub_id, cache):  # decide before building the model, not after
            if offline():
                raise _hf_unavailable(model_name, cfg.hf_hub_id, cache, "HF_HUB_OFFLINE=1")
            if not reachable(endpoint):
                raise _hf_unavailable(model_name, cfg.hf_hub_id, cache, f"{endpoint} is unreachable")
        try:  # pass the cache explicitly: huggingface_hub fixes its default at import, before HF_HOME may change
            return timm.create_model(model_name, pretrained=True, cache_dir=cache, **kwargs)
        except Exception as exc:  # huggingface_hub raises several types for "not cached and offline"
            if _is_network_error(exc):
                why = "HF_HUB_OFFLINE=1" if offline() else type(exc).__name__
                raise _hf_unavailable(model_name, cfg.hf_hub_id, cache, why) from exc
            raise
    url = cfg.url if isinstance(cfg.url, str) else cfg.url[0]
    _require_url_cached_or_reachable(model_name, url)
    return timm.create_model(model_name, pretrained=True, cache_dir=cache_dir, **kwargs)


def _hf_cached(repo: str, cache: Path) -> bool:
    return (cache / f"models--{repo.replace('/', '--')}" / "snapshots").is_dir()


def _is_network_error(exc: BaseException) -> bool:
    from huggingface_hub import errors

    kinds: tuple[type[BaseException], ...] = (
        errors.LocalEntryNotFoundError,
        errors.OfflineModeIsEnabled,
        ConnectionError,
        TimeoutError,
    )
    while exc is not None:
        if isinstance(exc, kinds) or type(exc).__name__ in {"ConnectError", "ConnectTimeout", "ReadTimeout"}:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def torch_hub_file(url: str) -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def _require_url_cached_or_reachable(model_name: str, url: str) -> None:
    target = torch_hub_file(url)
    if target.is_file():
        return
    why = (
        "HF_HUB_OFFLINE=1"
        if offline()
        else (None if reachable(url) else f"{urlparse(url).hostname} is unreachable")
    )
    if why:
        raise PretrainedWeightsUnavailable(
            f"ImageNet weights for {model_name} are not in the torch hub cache ({target}) and cannot be "
            f"downloaded ({why}). Download {url} on a connected machine and copy it to {target} "
            f"(or set TORCH_HOME), or build the model with pretrained=False",
            fix=f"curl -L {url} -o {target}",
        )


def torchvision_state_dict(model_name: str, weights: Any) -> dict:
    """A torchvision weights enum -> its state dict, fetched from torchvision's URL (weights_only load)."""
    import torch

    _require_url_cached_or_reachable(model_name, weights.url)
    return torch.hub.load_state_dict_from_url(weights.url, progress=False, check_hash=True, weights_only=True)
