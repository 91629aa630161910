"""``medzoo cluster configs|up|down|dashboard|status|submit``: thin wrappers over Ray's own tools."""

from __future__ import annotations

import os
from pathlib import Path

import typer

app = typer.Typer(
    help="Start, inspect and use a Ray cluster (wraps ray up/down/status/job submit, kubectl, sbatch).",
    no_args_is_help=True,
)


def _run(cmd: list[str], dry_run: bool, *, extra_env: dict[str, str] | None = None) -> None:
    from medzoo.cluster.commands import execute

    typer.echo("$ " + " ".join(cmd))
    if not dry_run:
        raise typer.Exit(execute(cmd, extra_env=extra_env))


def _auth_env(dashboard: str | None, *, required: bool) -> dict[str, str]:
    """Check token auth once, here in the CLI, from this process's environment and home."""
    from medzoo.cluster.commands import auth_env

    return auth_env(dashboard=dashboard, env=os.environ, home=Path.home(), required=required)


@app.command("configs")
def configs() -> None:
    """List the shipped cluster configs (Ray launcher for AWS/GCP, KubeRay cluster and job, SLURM)."""
    from medzoo.cluster.commands import list_configs

    for cfg in list_configs():
        typer.echo(f"{cfg.name:12s} {cfg.kind:13s} {cfg.path}")


@app.command("up", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def up(
    ctx: typer.Context,
    config: str = typer.Argument(..., help="A shipped config name (see `configs`) or a path."),
    wait: bool = typer.Option(False, "--wait", help="SLURM: block until the job ends; exit with its code."),
    sbatch_opt: list[str] = typer.Option(
        [],
        "--sbatch-opt",
        help="SLURM: an sbatch option overriding the script's, e.g. --sbatch-opt=--nodes=4.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the command only."),
) -> None:
    """Start a cluster from a config. SLURM: medzoo cluster up slurm -- medzoo sweep PREPARED --recipe ID."""
    from medzoo.cluster.commands import check_uploads, resolve_config, up_command

    cfg = resolve_config(config)
    cmd = up_command(cfg, command=list(ctx.args), sbatch_options=sbatch_opt, wait=wait)
    if not dry_run:
        check_uploads(cfg, cwd=Path.cwd())
    _run(cmd, dry_run)


@app.command("down")
def down(config: str = typer.Argument(...), dry_run: bool = typer.Option(False, "--dry-run")) -> None:
    """Tear a cluster down (or cancel the SLURM job)."""
    from medzoo.cluster.commands import down_command, resolve_config

    _run(down_command(resolve_config(config)), dry_run)


@app.command("dashboard")
def dashboard(config: str = typer.Argument(...), dry_run: bool = typer.Option(False, "--dry-run")) -> None:
    """Forward the cluster's dashboard to http://127.0.0.1:8265 (the address `submit` needs)."""
    from medzoo.cluster.commands import dashboard_command, resolve_config

    _run(dashboard_command(resolve_config(config)), dry_run)


@app.command("status")
def status(
    address: str | None = typer.Option(None, "--address", help="host:port of the Ray head."),
    dry_run: bool = typer.Option(False, "--dry-run"),
) -> None:
    """Show nodes and resources of a running Ray cluster."""
    from medzoo.cluster.commands import dashboard_url, status_command

    cmd = status_command(address)
    _run(
        cmd,
        dry_run,
        extra_env=None if dry_run else _auth_env(address and dashboard_url(address), required=False),
    )


@app.command("submit", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def submit(
    ctx: typer.Context,
    address: str = typer.Option(
        ..., "--address", help="The dashboard (http://127.0.0.1:8265 when forwarded) or head host:port."
    ),
    working_dir: Path | None = typer.Option(None, "--working-dir"),
    pip: list[str] = typer.Option(
        [], "--pip", help="Install for this job, e.g. --pip medzoo==0.1.0 (KubeRay)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run"),
) -> None:
    """Run a command on the cluster as a Ray job: medzoo cluster submit --address URL -- medzoo campaign ..."""
    from medzoo.cluster.commands import dashboard_url, submit_command

    cmd = submit_command(address, list(ctx.args), working_dir=working_dir, pip=pip)
    _run(cmd, dry_run, extra_env=None if dry_run else _auth_env(dashboard_url(address), required=True))
