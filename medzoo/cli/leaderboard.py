"""`medzoo leaderboard ...`."""

from __future__ import annotations

import typer

app = typer.Typer(help="leaderboard", no_args_is_help=True)
