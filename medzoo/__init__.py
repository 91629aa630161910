"""medzoo: distributed hyperparameter search, a model zoo and leaderboards for medical imaging.

``import medzoo`` gives the public API as subpackages (``medzoo.datasets``,
``medzoo.search``, ``medzoo.zoo``, ``medzoo.leaderboards``) and registers every
architecture family into timm as ``medzoo_<family>``. Ray is imported only when
a sweep or cluster command needs it.
"""

from __future__ import annotations

from medzoo import datasets, leaderboards, search, zoo
from medzoo.errors import MedzooError
from medzoo.zoo.architectures import families as _families  # noqa: F401  (registers medzoo_* models into timm)

__version__ = "0.1.0"
__all__ = ["MedzooError", "datasets", "leaderboards", "search", "zoo", "__version__"]
