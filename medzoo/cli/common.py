"""Options shared by several command groups; the home, the storage and the zoo are resolved here, once."""

from __future__ import annotations

import os

import typer

from medzoo.paths import default_zoo, resolve_home
from medzoo.storage import Location, location

# Locations are strings, not Paths: Path("s3://b/x") would collapse the URI to "s3:/b/x".
ZooOption = typer.Option(
    None, "--zoo", help="Zoo root: a folder or an s3:// / gs:// URI (default: <storage>/zoo)."
)
StorageOption = typer.Option(
    None,
    "--storage",
    envvar="MEDZOO_STORAGE",
    help="Where datasets/, runs/ and zoo/ live: a folder every node mounts, s3://bucket/prefix or "
    "gs://bucket/prefix (default: $MEDZOO_HOME).",
)


def resolve_storage(storage: str | os.PathLike[str] | None) -> Location | None:
    """The ``--storage`` location (or ``MEDZOO_STORAGE``, which typer reads), or None for the default."""
    return location(storage) if storage else None


def resolve_zoo(
    zoo: str | os.PathLike[str] | None, storage: str | os.PathLike[str] | None = None
) -> Location:
    """``--zoo`` if given, else ``<storage>/zoo``, else ``$MEDZOO_HOME/zoo``."""
    if zoo is not None:
        return location(zoo)
    root = resolve_storage(storage)
    return root / "zoo" if root is not None else location(default_zoo(resolve_home()))


def resolve_runs(storage: str | os.PathLike[str] | None) -> Location:
    """Where runs go by default: ``<storage>/runs`` or ``$MEDZOO_HOME/runs``."""
    root = resolve_storage(storage)
    return root / "runs" if root is not None else location(resolve_home() / "runs")


def console(*, min_width: int | None = None):
    """A console for command output; ``min_width`` widens piped output (logs, CI) past rich's 80 columns."""
    import sys

    from rich.console import Console

    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=min_width if piped and min_width else None)
