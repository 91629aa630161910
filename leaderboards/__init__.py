"""medzoo.leaderboards: per-dataset leaderboards built from the zoo's cards and metrics.

``table(dataset_id, zoo=...)`` builds a :class:`Board`; the views render it as a
terminal table (``terminal``), Markdown (``markdown``), a static site
(``site.build``) and a live web app with try-a-model (``server.serve``). Names
resolve lazily so that ``import medzoo`` does not pull in jinja2 or the server.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "table": "board",
    "Board": "board",
    "Row": "board",
    "ReferenceRow": "board",
    "Interval": "board",
    "BOARD_DATASETS": "board",
    "TIE_RULE": "board",
    "to_markdown": "markdown",
    "render_terminal": "terminal",
    "build_site": "site",
    "make_server": "server",
    "Limits": "server",
    "serve": "server",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"medzoo.leaderboards.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'medzoo.leaderboards' has no attribute {name!r}")
