"""The families table behind ``medzoo zoo families``: params always, GMACs on demand and cached.

Each family is sized as its study uses it (the study's head and class count;
1000 classes and the linear head for families no study trains), at its default
input size. Parameters come from a build on the meta device (no memory, no
init: a second for all families); GMACs need a traced forward on the CPU
(seconds per family), so they are computed only when asked and cached in a
JSON file keyed by everything that changes them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _study_setup(family: Any) -> tuple[str, int]:
    return (family.study_head or "linear", family.study_num_classes or 1000)


def _cache_key(family: Any, head: str, num_classes: int) -> str:
    import timm

    from medzoo import __version__

    size = "x".join(str(s) for s in family.input_size)
    return f"{family.name}|{head}|{num_classes}|{size}|timm {timm.__version__}|medzoo {__version__}"


def family_rows(
    *, cache: Path | None = None, gmacs: bool = False, names: list[str] | None = None
) -> list[dict]:
    """One dict per family; measures what the cache lacks (GMACs only with ``gmacs=True``), updates it atomically."""
    import torch

    from medzoo.paths import atomic_write_json
    from medzoo.zoo.architectures.complexity import count_macs
    from medzoo.zoo.architectures.families import create_model, get_family, list_families

    cached: dict[str, dict] = {}
    if cache is not None and cache.is_file():
        try:
            cached = {k: v for k, v in json.loads(cache.read_text()).items() if isinstance(v, dict)}
        except (OSError, json.JSONDecodeError):
            cached = {}  # a damaged cache is only a cache: recompute
    rows, changed = [], False
    for name in names or list_families():
        family = get_family(name)
        head, num_classes = _study_setup(family)
        dropout = 0.0 if head == "linear" else 0.5
        key = _cache_key(family, head, num_classes)
        entry = cached.setdefault(key, {})
        if "params" not in entry:
            with torch.device("meta"):  # shapes only: no memory, no initialisation
                model = create_model(name, num_classes=num_classes, head=head, dropout=dropout)
            entry["params"] = sum(p.numel() for p in model.parameters())
            changed = True
        if gmacs and "gmacs" not in entry:
            model = create_model(name, num_classes=num_classes, head=head, dropout=dropout)
            entry["gmacs"] = count_macs(model, family.input_size)["gmacs"]
            changed = True
        rows.append(
            {
                "name": name,
                "source": family.source,
                "backbone": family.backbone,
                "paper": family.paper,
                "head": head,
                "num_classes": num_classes,
                "params_m": entry["params"] / 1e6,
                "gmacs": entry.get("gmacs"),
                "input_size": list(family.input_size),
                "cam_layer": family.cam_layer,
                "heads": list(family.heads),
                "default_head": family.default_head,
                "freeze_units": len(family.freeze_units),
                "options": dict(family.options),
            }
        )
    if changed and cache is not None:
        atomic_write_json(cache, cached)
    return rows
