"""Options shared by several command groups; paths are resolved here, once."""

from __future__ import annotations

from pathlib import Path

import typer

from medzoo.paths import default_zoo, resolve_home

ZooOption = typer.Option(None, "--zoo", help="Zoo root (default: $MEDZOO_HOME/zoo).")


def resolve_zoo(zoo: Path | None) -> Path:
    return Path(zoo).expanduser().resolve() if zoo is not None else default_zoo(resolve_home())


def console():  # noqa: ANN201 - rich imported lazily
    """A console for command output; piped output (logs, CI) gets 120 columns instead of rich's 80."""
    import sys

    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 120)
