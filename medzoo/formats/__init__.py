"""The typed, versioned on-disk contracts between the parts.

One module per producer: ``prepared`` (datasets -> search), ``run`` (search -> zoo),
``entry`` (zoo -> leaderboards and users). Each file format is a frozen
:class:`~medzoo.formats._base.Record` whose ``read`` validates every field and
whose ``write`` is atomic; nothing else in medzoo parses these files.
"""

from medzoo.formats._base import Record

__all__ = ["Record"]
