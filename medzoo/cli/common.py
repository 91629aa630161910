"""Options shared by several command groups; paths are resolved here, once."""

from __future__ import annotations

from pathlib import Path

import typer

from medzoo.paths import default_zoo, resolve_home

ZooOption = typer.Option(None, "--zoo", help="Zoo root (default: $MEDZOO_HOME/zoo).")


def resolve_zoo(zoo: Path | None) -> Path:
    return Path(zoo).expanduser().resolve() if zoo is not None else default_zoo(resolve_home())


def console(*, min_width: int | None = None):
    """A console for command output; ``min_width`` widens piped output (logs, CI) past rich's 80 columns."""
    import os
    import sys

    from rich.console import Console

    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=min_width if piped and min_width else None)
