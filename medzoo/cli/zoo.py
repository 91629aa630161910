"""Zoo commands: ``medzoo publish|pull|predict`` and the ``medzoo zoo`` group (list, families).

Edit with small insertions only: the families command and the zoo commands are
maintained separately.
"""

from __future__ import annotations

import typer

zoo_app = typer.Typer(help="Browse the model zoo and the architecture families.", no_args_is_help=True)


# --- families (architectures) -------------------------------------------------


# --- zoo entries: publish, list, pull, predict ---------------------------------


def register(app: typer.Typer) -> None:
    app.add_typer(zoo_app, name="zoo")
