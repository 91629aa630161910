"""medzoo.zoo: architecture families, complexity, Grad-CAM, and the model zoo (publish/pull/load).

Names resolve lazily so that importing the package stays cheap; the families
module (which registers every family into timm as ``medzoo_<family>``) is
imported by ``import medzoo``.
"""

from __future__ import annotations

import importlib
from typing import Any

# A name here must differ from every submodule's name: importing ``medzoo.zoo.x`` sets the package
# attribute ``x`` to the module, which would shadow a function exported as ``x``. Prediction lives in
# the ``medzoo.zoo.predict`` module (Predictor, Prediction).
_EXPORTS = {
    # families (architectures)
    "register_family": "families",
    "list_families": "families",
    "get_family": "families",
    "create_model": "families",
    "Family": "families",
    # complexity
    "measure": "complexity",
    # the zoo itself
    "publish": "publishing",
    "load": "store",
    "list": "store",
    "pull": "store",
    "resolve_entry": "store",
    "paper_reported": "reported",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"medzoo.zoo.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'medzoo.zoo' has no attribute {name!r}")
