"""`medzoo sweep` and `medzoo train`: a few lines each over medzoo.search."""

from __future__ import annotations

from pathlib import Path

import typer

from medzoo.cli.common import StorageOption, console


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep)
    app.command("train")(train)


def _default_out(kind: str, prepared: Path, name: str) -> Path:
    import datetime as dt

    from medzoo.paths import resolve_home

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return resolve_home() / "runs" / f"{kind}-{prepared.name}-{name}-{stamp}"


def sweep(
    prepared: str | None = typer.Argument(
        None, help="A prepared dataset folder or storage URI (medzoo datasets prepare); not with --resume."
    ),
    recipe: str | None = typer.Option(
        None, "--recipe", help="A built-in recipe id (medzoo.search.list_recipes())."
    ),
    space: Path | None = typer.Option(None, "--space", help="Your own space YAML in the recipe schema."),
    samples: int = typer.Option(8, "--samples", help="Number of trials."),
    scheduler: str = typer.Option("asha", "--scheduler", help="asha | pbt | fifo"),
    search: str = typer.Option("optuna", "--search", help="optuna (TPE) | random"),
    objectives: str = typer.Option("val_metric", "--objectives", help="val_metric or val_metric,gmacs"),
    cpus_per_trial: float = typer.Option(1, "--cpus-per-trial"),
    gpus_per_trial: float = typer.Option(0, "--gpus-per-trial", help="Fractions share a GPU."),
    workers_per_trial: int = typer.Option(1, "--workers-per-trial", help="W > 1: data-parallel trials."),
    address: str | None = typer.Option(
        None,
        "--address",
        envvar="RAY_ADDRESS",
        help="Join this running Ray cluster (or RAY_ADDRESS; else a local Ray is started).",
    ),
    out: str | None = typer.Option(
        None, "--out", help="Run folder or URI (default: <storage>/runs/NAME or $MEDZOO_HOME/runs/...)."
    ),
    storage: str | None = StorageOption,
    resume: bool = typer.Option(False, "--resume", help="Resume the sweep in --out after a crash."),
    smoke: bool = typer.Option(False, "--smoke", help="Scale epochs, image size, data and families down."),
    time_budget_s: float | None = typer.Option(
        None, "--time-budget-s", help="Stop starting trials after this."
    ),
    test_top_k: int = typer.Option(
        3, "--test-top-k", help="Trials evaluated on the test split after selection."
    ),
    max_failures: int = typer.Option(
        2, "--max-failures", help="Retries of a crashed trial from its checkpoint."
    ),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Search hyperparameters with Ray Tune + Optuna and write a run folder."""
    from medzoo.errors import ConfigError
    from medzoo.paths import resolve_home
    from medzoo.search.signing import SigningKey
    from medzoo.search.sweep import SweepSpec, run
    from medzoo.search.sweep import resume as resume_sweep

    home = resolve_home()
    key = SigningKey.load_or_create(home)
    if resume:
        if out is None:
            raise ConfigError("--resume needs --out RUN, the folder (or URI) of the sweep to resume")
        target, run_dir = _resume_target(out, home)
        table = resume_sweep(
            run_dir, prepared=None if target else prepared, address=address, signing_key=key, target=target
        )
        _print_table(table)
        return
    if prepared is None:
        raise ConfigError("a new sweep needs PREPARED, a prepared dataset folder or storage URI")
    if (recipe is None) == (space is None):
        raise ConfigError("give exactly one of --recipe ID or --space FILE.yaml")
    default = _default_out("sweep", Path(prepared.rstrip("/")), recipe or Path(space).stem)
    target = _new_target(prepared, out, storage, default.name, home)
    spec = SweepSpec.build(
        prepared=target.prepared if target else prepared,
        out=target.out if target else (out or default),
        recipe=recipe,
        space=space,
        samples=samples,
        scheduler=scheduler,
        search=search,
        objectives=tuple(o.strip() for o in objectives.split(",") if o.strip()),
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        workers_per_trial=workers_per_trial,
        smoke=smoke,
        time_budget_s=time_budget_s,
        test_top_k=test_top_k,
        max_failures=max_failures,
        seed=seed,
    )
    _print_table(run(spec, address=address, signing_key=key, target=target))


def _new_target(prepared: str, out: str | None, storage: str | None, name: str, home: Path):
    """With --storage or a URI: the run and its data where every node reaches them (search.remote)."""
    from medzoo.cli.common import resolve_storage
    from medzoo.search.remote import resolve_target

    root = resolve_storage(storage)
    if root is None and "://" not in prepared and (out is None or "://" not in out):
        return None  # the embedded default: local folders, as before
    return resolve_target(prepared=prepared, out=out, storage=root, name=name, home=home)


def _resume_target(out: str, home: Path):
    from medzoo.search.remote import resolve_resume

    return resolve_resume(out=out, home=home)


def train(
    prepared: Path = typer.Argument(..., help="A prepared dataset folder."),
    recipe: str = typer.Option(..., "--recipe", help="Recipe id whose point is trained."),
    set_: list[str] = typer.Option([], "--set", help="Override a config key: --set lr=3e-4 (repeatable)."),
    out: Path | None = typer.Option(None, "--out", help="Trial folder (default: $MEDZOO_HOME/runs/...)."),
    smoke: bool = typer.Option(False, "--smoke", help="The recipe's smoke scaling."),
    resume: bool = typer.Option(False, "--resume", help="Continue from --out's checkpoint."),
    test: bool = typer.Option(False, "--test", help="Also evaluate once on the test split (bootstrap CIs)."),
) -> None:
    """Train one configuration (the recipe's point, with --set overrides) without Ray."""
    from medzoo.search.train_one import train_one

    out = out or _default_out("train", prepared, recipe)
    result = train_one(
        prepared=prepared, recipe=recipe, sets=set_, out=out, smoke=smoke, resume=resume, test=test
    )
    c = console()
    c.print(f"trial folder: {out}")
    c.print(
        " ".join(f"{k}={v:.4g}" for k, v in result.items() if k.startswith("val_") and isinstance(v, float))
    )


def _print_table(table) -> None:
    from rich.table import Table

    frame = table.frame.sort_values("val_metric", ascending=False, na_position="last")
    primary = (table.best or {}).get("config", {}).get("primary_metric", "")
    cols = {
        "trial_id": "trial",
        "status": "status",
        "config.family": "family",
        "val_metric": f"val {primary}",
        f"test_{primary}": f"test {primary}",
        "gmacs": "GMACs",
        "epochs": "epochs",
        "error": "error",
    }
    cols = {
        k: v for k, v in cols.items() if k in frame.columns and (k != "error" or frame[k].astype(bool).any())
    }
    t = Table(title=f"run {table.path}")
    for header in cols.values():
        t.add_column(header, overflow="fold")
    for _, row in frame.iterrows():
        t.add_row(
            *[
                "" if row[c] != row[c] else f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c])
                for c in cols
            ]
        )
    console().print(t)
