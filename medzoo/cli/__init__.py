"""The ``medzoo`` command line: a few lines per command over a library call.

Group modules import only typer and rich at import time; the heavy libraries
(torch, Ray, timm) are imported inside the commands, so ``medzoo --help`` is fast
and works without Ray installed.
"""

from __future__ import annotations

import sys

import typer

from medzoo.cli import campaign, cluster, crossval, datasets, leaderboard, quickstart, search, zoo
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
crossval.register(app)
app.add_typer(leaderboard.app, name="leaderboard")
app.add_typer(cluster.app, name="cluster")
campaign.register(app)
quickstart.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become ``error:`` / ``fix:`` lines on stderr and exit status 2."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="medzoo", standalone_mode=True)
    except MedzooError as exc:
        sys.exit(_report(exc.message, exc.fix, exc.exit_code))
    except OSError as exc:  # a path the user gave: missing, not writable, a file where a folder belongs
        where = f" {exc.filename}" if exc.filename else ""
        reason = exc.strerror or str(exc)
        sys.exit(_report(f"cannot use{where}: {reason}", "check the path and its permissions", 2))


def _report(message: str, fix: str | None, code: int) -> int:
    """Print as plain text, one line each: names may contain brackets that console markup would eat."""
    sys.stderr.write(f"error: {_one_line(message)}\n")
    if fix:
        sys.stderr.write(f"fix: {_one_line(fix)}\n")
    sys.stderr.flush()
    return code


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
