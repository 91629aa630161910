"""`medzoo leaderboard show|build|serve`: per-dataset boards from the zoo's cards and metrics.

The zoo may be a local folder or an ``s3://`` / ``gs://`` URI (``--zoo``, or
``<--storage>/zoo``); the static site is always written to a local folder.
"""

from __future__ import annotations

from pathlib import Path

import typer

from medzoo.cli.common import StorageOption, ZooOption, console, resolve_zoo

app = typer.Typer(
    help="Per-dataset leaderboards: terminal table, static site, web app.", no_args_is_help=True
)


@app.command()
def show(
    dataset: str = typer.Argument(..., help="Dataset id, e.g. figshare-brain."),
    zoo: str | None = ZooOption,
    storage: str | None = StorageOption,
    sort: str | None = typer.Option(
        None, "--sort", help="Rank by this metric (default: the primary metric)."
    ),
) -> None:
    """Print DATASET's leaderboard: ranked entries with 95% intervals, then paper-reported rows."""
    from medzoo.leaderboards import render_terminal, table

    render_terminal(table(dataset, zoo=resolve_zoo(zoo, storage), sort=sort), console())


@app.command()
def build(
    zoo: str | None = ZooOption,
    storage: str | None = StorageOption,
    out: Path = typer.Option(
        ..., "--out", help="Local folder to write the static site into (replaced atomically)."
    ),
) -> None:
    """Write a static site (works from file:// and any static host): every board, entry pages, JSON, Markdown."""
    from medzoo.leaderboards import build_site

    site = build_site(zoo=resolve_zoo(zoo, storage), out=out)
    console().print(f"site written to {site} (open {site / 'index.html'})", markup=False, soft_wrap=True)


@app.command()
def serve(
    zoo: str | None = ZooOption,
    storage: str | None = StorageOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    port: int = typer.Option(8765, "--port", help="Port (0 picks a free one)."),
) -> None:
    """Serve the boards from the live zoo, with a try-a-model page per entry."""
    from medzoo.leaderboards import serve as serve_app

    out = console()
    serve_app(
        zoo=resolve_zoo(zoo, storage), host=host, port=port, echo=lambda text: out.print(text, markup=False)
    )
