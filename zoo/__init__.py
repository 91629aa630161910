"""medzoo.zoo: architecture families, complexity, Grad-CAM, and the model zoo (publish/pull/load).

Three subpackages: ``architectures`` (families, heads, layers, complexity, the
timm bridge), ``entries`` (the entry store on any storage location, publishing,
cards, the Hub mirror) and ``inference`` (image decoding, prediction, Grad-CAM).
Names resolve lazily so that importing the package stays cheap (no torch or timm
until a model is needed).
"""

from __future__ import annotations

import importlib
from typing import Any

# A name here must differ from every submodule's name: importing ``medzoo.zoo.x`` sets the package
# attribute ``x`` to the module, which would shadow a function exported as ``x``. Prediction lives in
# the ``medzoo.zoo.inference.predict`` module (Predictor, Prediction).
_EXPORTS = {
    # families (architectures)
    "register_family": "architectures.families",
    "list_families": "architectures.families",
    "get_family": "architectures.families",
    "create_model": "architectures.families",
    "Family": "architectures.families",
    # complexity
    "measure": "architectures.complexity",
    # the zoo itself
    "publish": "entries.publishing",
    "load": "entries.store",
    "list": "entries.store",
    "pull": "entries.store",
    "resolve_entry": "entries.store",
    "paper_reported": "entries.reported",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"medzoo.zoo.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'medzoo.zoo' has no attribute {name!r}")
