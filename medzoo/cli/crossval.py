"""`medzoo crossval RUN`: the run's chosen configuration re-trained on K folds, by patient and by image."""

from __future__ import annotations

import typer

from medzoo.cli.common import StorageOption, console


def register(app: typer.Typer) -> None:
    app.command("crossval")(crossval_command)


def crossval_command(
    run: str = typer.Argument(
        ..., help="A finished run folder or URI (or a run's name under --storage's runs/)."
    ),
    folds: int | None = typer.Option(
        None, "--folds", help="K (default: the prepared set's own patient-level folds, else 5)."
    ),
    protocol: str = typer.Option(
        "patient",
        "--protocol",
        help="patient (no patient in two folds) | image (the image-level studies' split) | both (the leak).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seeds the fold assignment and the leak's bootstrap."),
    epochs: int | None = typer.Option(
        None, "--epochs", help="Cap the epochs per fold (default: the chosen trial's best epoch)."
    ),
    storage: str | None = StorageOption,
    address: str | None = typer.Option(
        None,
        "--address",
        envvar="RAY_ADDRESS",
        help="Join this running Ray cluster (or RAY_ADDRESS; else a local Ray is started).",
    ),
    local: bool = typer.Option(False, "--local", help="Run the folds in this process, without Ray."),
    cpus_per_fold: float = typer.Option(1, "--cpus-per-fold"),
    gpus_per_fold: float = typer.Option(0, "--gpus-per-fold"),
) -> None:
    """Cross-validate a run's selected configuration; writes RUN/crossval.json and prints the folds."""
    from medzoo.errors import ConfigError
    from medzoo.search.crossval import crossval

    choices = {"patient": ("patient",), "image": ("image",), "both": ("patient", "image")}
    if protocol not in choices:
        raise ConfigError(
            f"--protocol must be one of {sorted(choices)}, got {protocol!r}",
            fix="pass --protocol patient, image or both",
        )
    out = console()
    result = crossval(
        run=_run_location(run, storage),
        folds=folds,
        protocols=choices[protocol],
        seed=seed,
        epochs=epochs,
        executor="local" if local else "ray",
        address=address,
        cpus_per_fold=cpus_per_fold,
        gpus_per_fold=gpus_per_fold,
        progress=lambda line: out.print(line, markup=False),
    )
    _print_result(result)


def _run_location(run: str, storage: str | None):
    """RUN as given (a folder or URI), or ``<storage>/runs/RUN`` when it names no folder here."""
    from pathlib import Path

    from medzoo.cli.common import resolve_runs
    from medzoo.storage import location

    if "://" in run or Path(run).expanduser().exists() or storage is None:
        return location(Path(run).expanduser().resolve() if "://" not in run else run)
    return resolve_runs(storage) / run


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _print_result(result) -> None:
    """One row per fold, then mean +- SD per protocol and the leak with its interval."""
    from rich.table import Table

    out = console()
    table = Table(title=f"crossval of {result.trial_id}: {result.metric}, K={result.k}")
    for col in ("protocol", "fold", result.metric, "images", "patients", "epochs"):
        table.add_column(col)
    for p in result.protocols:
        for f in p.folds:
            table.add_row(
                p.protocol, str(f.fold), _cell(f.value), str(f.n_test), str(f.n_patients), str(f.epochs)
            )
    out.print(table)
    for p in result.protocols:
        sd = "" if p.sd is None else f" +- {p.sd:.3f}"
        out.print(
            f"{p.protocol:8s} {result.metric} {_cell(p.mean)}{sd} over {len(p.folds)} folds", markup=False
        )
    if result.leak is not None:
        leak = result.leak
        ci = "" if leak.ci_low is None else f" [{leak.ci_low:+.3f}, {leak.ci_high:+.3f}] 95% CI"
        diff = "n/a" if leak.difference is None else f"{leak.difference:+.3f}"
        out.print(f"leak (image - patient) {result.metric} {diff}{ci}", markup=False)
