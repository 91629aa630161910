"""``medzoo cluster up|down|status|submit|configs``: thin wrappers over Ray's own tools."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Start, inspect and use a Ray cluster (wraps ray up/down/status/job submit).", no_args_is_help=True
)


def _run(cmd: list[str], dry_run: bool) -> None:
    from medzoo.cluster.commands import execute

    typer.echo("$ " + " ".join(cmd))
    if not dry_run:
        raise typer.Exit(execute(cmd))


@app.command("configs")
def configs() -> None:
    """List the shipped cluster configs (Ray launcher, KubeRay, SLURM)."""
    from medzoo.cluster.commands import list_configs

    for cfg in list_configs():
        typer.echo(f"{cfg.name:10s} {cfg.kind:13s} {cfg.path}")


@app.command("up")
def up(
    config: str = typer.Argument(..., help="A shipped config name (see `configs`) or a path."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the command only."),
) -> None:
    """Start a cluster from a config."""
    from medzoo.cluster.commands import resolve_config, up_command

    _run(up_command(resolve_config(config)), dry_run)


@app.command("down")
def down(config: str = typer.Argument(...), dry_run: bool = typer.Option(False, "--dry-run")) -> None:
    """Tear a cluster down."""
    from medzoo.cluster.commands import down_command, resolve_config

    _run(down_command(resolve_config(config)), dry_run)


@app.command("status")
def status(
    address: str | None = typer.Option(None, "--address", help="host:port of the Ray head."),
    dry_run: bool = typer.Option(False, "--dry-run"),
) -> None:
    """Show nodes and resources of a running Ray cluster."""
    from medzoo.cluster.commands import status_command

    _run(status_command(address), dry_run)


@app.command("submit", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def submit(
    ctx: typer.Context,
    address: str = typer.Option(..., "--address", help="host:port of the Ray head."),
    working_dir: Path | None = typer.Option(None, "--working-dir"),
    dry_run: bool = typer.Option(False, "--dry-run"),
) -> None:
    """Run a command on the cluster as a Ray job: medzoo cluster submit --address H:6379 -- medzoo sweep ..."""
    from medzoo.cluster.commands import submit_command

    _run(submit_command(address, list(ctx.args), working_dir=working_dir), dry_run)
