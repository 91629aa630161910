"""medzoo: distributed hyperparameter search, a model zoo and leaderboards for medical imaging.

``import medzoo`` is cheap: the parts (``medzoo.datasets``, ``medzoo.search``,
``medzoo.zoo``, ``medzoo.leaderboards``, ``medzoo.cluster``) load on first use, and
torch, timm, Ray and pandas only when a command needs them. That keeps the CLI's
start-up instant. Families register with timm as ``medzoo_<family>`` the first
time a model is created through medzoo or timm is imported after medzoo.
"""

from __future__ import annotations

import importlib
from typing import Any

from medzoo.errors import MedzooError
from medzoo.zoo.architectures.timm_bridge import install_import_hook as _install_timm_hook

# medzoo_<family> names resolve in timm once timm is imported (imports neither torch nor timm now)
_install_timm_hook()

__version__ = "0.1.0"
_PARTS = ("cluster", "datasets", "leaderboards", "search", "zoo")
__all__ = ["MedzooError", "__version__", *_PARTS]


def __getattr__(name: str) -> Any:
    if name in _PARTS:
        return importlib.import_module(f"medzoo.{name}")
    raise AttributeError(f"module 'medzoo' has no attribute {name!r}")
