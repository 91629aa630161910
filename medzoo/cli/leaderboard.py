"""`medzoo leaderboard show|build|serve`: per-dataset boards from the zoo's cards and metrics."""

from __future__ import annotations

from pathlib import Path

import typer

from medzoo.cli.common import ZooOption, console, resolve_zoo

app = typer.Typer(
    help="Per-dataset leaderboards: terminal table, static site, web app.", no_args_is_help=True
)


@app.command()
def show(
    dataset: str = typer.Argument(..., help="Dataset id, e.g. figshare-brain."),
    zoo: Path | None = ZooOption,
    sort: str | None = typer.Option(
        None, "--sort", help="Rank by this metric (default: the primary metric)."
    ),
) -> None:
    """Print DATASET's leaderboard: ranked entries with 95% intervals, then paper-reported rows."""
    from medzoo.leaderboards import render_terminal, table

    render_terminal(table(dataset, zoo=resolve_zoo(zoo), sort=sort), console())


@app.command()
def build(
    zoo: Path | None = ZooOption,
    out: Path = typer.Option(
        ..., "--out", help="Folder to write the static site into (replaced atomically)."
    ),
) -> None:
    """Write a static site (works from file:// and any static host): every board, entry pages, JSON, Markdown."""
    from medzoo.leaderboards import build_site

    site = build_site(zoo=resolve_zoo(zoo), out=out)
    console().print(f"site written to {site} (open {site / 'index.html'})")


@app.command()
def serve(
    zoo: Path | None = ZooOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    port: int = typer.Option(8765, "--port", help="Port (0 picks a free one)."),
) -> None:
    """Serve the boards from the live zoo, with a try-a-model page per entry."""
    from medzoo.leaderboards import serve as serve_app

    serve_app(zoo=resolve_zoo(zoo), host=host, port=port, echo=console().print)
