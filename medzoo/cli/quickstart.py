"""``medzoo quickstart``: the whole platform end to end on the embedded default."""

from __future__ import annotations

import os
from pathlib import Path

import typer


def quickstart(
    out: Path | None = typer.Option(None, "--out", help="Output folder (default: $MEDZOO_HOME/quickstart)."),
    budget_minutes: float = typer.Option(
        10.0, "--budget-minutes", help="Total time budget, shared by the datasets."
    ),
    data: list[str] = typer.Option([], "--data", help="ID=RAW_PATH: use a real download for that dataset."),
    address: str | None = typer.Option(
        None, "--address", envvar="RAY_ADDRESS", help="host:port of a running Ray cluster (else a local Ray)."
    ),
    samples: int = typer.Option(10, "--samples", help="Configurations compared per dataset."),
    seed: int = typer.Option(0, "--seed", help="Seed of the phantoms, their splits and the searches."),
) -> None:
    """Synthesise, check and prepare five datasets, sweep the five recipes at once, publish, build the boards."""
    from medzoo.cli.common import console
    from medzoo.paths import resolve_home
    from medzoo.quickstart import QuickstartPlan, parse_data_overrides, run
    from medzoo.quickstart_report import render_summary

    if budget_minutes <= 0:
        from medzoo.errors import ConfigError

        raise ConfigError(f"--budget-minutes must be > 0, got {budget_minutes}")
    if samples < 1 or seed < 0:
        from medzoo.errors import ConfigError

        raise ConfigError(f"--samples >= 1 and --seed >= 0 must hold, got --samples {samples} --seed {seed}")
    con = console(min_width=120)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # the CLI, not the library, decides this
    plan = QuickstartPlan(
        out=(out or resolve_home() / "quickstart").expanduser().resolve(),
        budget_s=budget_minutes * 60,
        data=parse_data_overrides(data),
        address=address,
        samples=samples,
        seed=seed,
    )
    summary = run(plan, log=con.print)
    render_summary(summary, con)


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart)
