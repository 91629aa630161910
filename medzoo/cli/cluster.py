"""`medzoo cluster ...`."""

from __future__ import annotations

import typer

app = typer.Typer(help="cluster", no_args_is_help=True)
