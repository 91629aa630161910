"""The ``medzoo`` command line: a few lines per command over a library call.

Group modules import only typer and rich at import time; the heavy libraries
(torch, Ray, timm) are imported inside the commands, so ``medzoo --help`` is fast
and works without Ray installed.
"""

from __future__ import annotations

import sys

import typer

from medzoo.cli import cluster, datasets, leaderboard, quickstart, search, zoo
from medzoo.errors import MedzooError

app = typer.Typer(
    name="medzoo",
    help="Hyperparameter sweeps, a model zoo with cards and Grad-CAM evidence, and leaderboards "
    "for medical image classification.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(datasets.app, name="datasets")
search.register(app)
zoo.register(app)
app.add_typer(leaderboard.app, name="leaderboard")
app.add_typer(cluster.app, name="cluster")
quickstart.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit status 2."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="medzoo", standalone_mode=True)
    except MedzooError as exc:
        from rich.console import Console

        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print(f"[bold red]error:[/] {exc.message}", markup=True)
        if exc.fix:
            err.print(f"[bold]fix:[/] {exc.fix}", markup=True)
        sys.exit(exc.exit_code)
