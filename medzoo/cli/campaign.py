"""``medzoo campaign``: several recipes' sweeps at once on one Ray, then publish and build the boards."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from medzoo.cli.common import StorageOption, ZooOption


def campaign(
    file: Path | None = typer.Argument(
        None, help="A campaign YAML (sweeps: name, recipe, prepared, samples, budget, resources)."
    ),
    storage: str | None = StorageOption,
    address: str | None = typer.Option(
        None, "--address", envvar="RAY_ADDRESS", help="Join this Ray cluster (else a local Ray is started)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Campaign folder: state, runs (default: $MEDZOO_HOME/campaigns/NAME)."
    ),
    zoo: str | None = ZooOption,
    samples: int = typer.Option(8, "--samples", help="Trials per sweep of the default campaign."),
    time_budget_s: float | None = typer.Option(
        None, "--time-budget-s", help="Per-sweep time budget of the default campaign."
    ),
    smoke: bool = typer.Option(False, "--smoke", help="The default campaign at smoke scale."),
) -> None:
    """Run several sweeps concurrently on one Ray, publish their top entries, build the leaderboards.

    Without FILE: the five studies' recipes on their prepared sets under <storage>/datasets/ID
    (or $MEDZOO_HOME/prepared/ID). Run it again to continue: finished sweeps are kept.
    """
    from medzoo.cli.common import console, resolve_storage, resolve_zoo
    from medzoo.paths import resolve_home
    from medzoo.search.campaign import default_campaign, load_campaign, run_campaign

    home = resolve_home()
    root = resolve_storage(storage)
    if file is not None:
        spec = load_campaign(file)
    else:
        base = root / "datasets" if root is not None else None
        prepared = {
            ds: (base / ds).uri if base is not None else str(home / "prepared" / ds) for ds in _studies()
        }
        spec = default_campaign(prepared, samples=samples, time_budget_s=time_budget_s, smoke=smoke)
    name = file.stem if file is not None else "studies"
    folder = (out or home / "campaigns" / name).expanduser().resolve()
    con = console(min_width=120)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # the CLI, not the library, decides this
    result = run_campaign(
        spec,
        out=folder,
        zoo=resolve_zoo(zoo, storage),
        site=folder / "site",
        address=address or None,
        storage=root.uri if root is not None else None,
        log=con.print,
    )
    for s in result.sweeps:
        con.print(f"{s.name:<16} {', '.join(s.entries) or 'no entry'}  (run {s.run})")
    con.print(f"site: {result.site}  wall time {result.wall_s:.0f} s")


def _studies() -> tuple[str, ...]:
    from medzoo.search.campaign import STUDIES

    return STUDIES


def register(app: typer.Typer) -> None:
    app.command("campaign")(campaign)
