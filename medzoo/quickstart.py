"""The main job in one call: phantoms -> check -> prepare -> campaign (sweeps, publish, leaderboard site).

Every data stage records itself in ``OUT/quickstart.json`` and every campaign stage in
``OUT/campaign.json`` when it completes, so an interrupted quickstart run again continues
from what is finished and redoes nothing. The five sweeps run at once on the embedded
default (one local Ray), each with the time left minus the reserve for publishing and the site.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medzoo.errors import ConfigError
from medzoo.paths import atomic_write_json

#: the five studies' datasets, in the order the quickstart runs them
STUDY_DATASETS = ("figshare-brain", "all-leukemia", "cbis-ddsm-mass", "brats19-grade", "chestxray14")

#: phantom size per dataset: big enough that configurations differ, small enough for the budget
PHANTOM_PATIENTS = {
    "figshare-brain": 160,
    "all-leukemia": 100,
    "cbis-ddsm-mass": 80,
    "brats19-grade": 20,
    "chestxray14": 150,
}

#: seconds kept back per dataset for publish (Grad-CAM, plots, card) and once for the site
PUBLISH_RESERVE_S = 20.0
SITE_RESERVE_S = 10.0


@dataclass
class QuickstartPlan:
    out: Path
    budget_s: float
    data: dict[str, Path] = field(default_factory=dict)  # dataset id -> a real raw download
    address: str | None = None
    samples: int = 10
    seed: int = 0

    @property
    def zoo(self) -> Path:
        return self.out / "zoo"

    @property
    def site(self) -> Path:
        return self.out / "site"


class _State:
    """``quickstart.json``: which stages are done, with their results and times."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"stages": {}}

    def done(self, key: str) -> dict[str, Any] | None:
        return self.data["stages"].get(key)

    def mark(self, key: str, **result: Any) -> None:
        self.data["stages"][key] = result
        atomic_write_json(self.path, self.data)


def parse_data_overrides(items: list[str]) -> dict[str, Path]:
    """``["figshare-brain=/data/figshare"]`` -> {id: path}; every id and path is checked."""
    out: dict[str, Path] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(
                f"--data takes ID=RAW_PATH, got {item!r}", fix="--data figshare-brain=/data/figshare"
            )
        ds, raw = item.split("=", 1)
        if ds not in STUDY_DATASETS:
            raise ConfigError(
                f"--data: {ds!r} is not one of the quickstart datasets {', '.join(STUDY_DATASETS)}"
            )
        path = Path(raw).expanduser().resolve()
        if not path.exists():
            raise ConfigError(f"--data {ds}: {path} does not exist")
        out[ds] = path
    return out


def run(plan: QuickstartPlan, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or continue) the quickstart; returns the summary (also written to ``OUT/summary.json``).

    The data stages run one dataset after another, and each dataset's sweep starts as soon as its
    prepared set exists, so the five sweeps run at once as one campaign
    (:mod:`medzoo.search.campaign`) on the embedded default; the campaign then publishes each
    sweep's best entry and builds the boards.
    """
    from medzoo import datasets
    from medzoo.cluster.connect import connect
    from medzoo.search.campaign import CampaignRunner

    plan.out.mkdir(parents=True, exist_ok=True)
    state = _State(plan.out / "quickstart.json")
    start = time.monotonic()

    def stage(key: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        prior = state.done(key)
        if prior is not None:
            log(f"  skip {key}: done before")
            return prior
        t0 = time.monotonic()
        log(f"  run  {key} ...")
        result = fn()
        result["seconds"] = round(time.monotonic() - t0, 1)
        state.mark(key, **result)
        log(f"  done {key} in {result['seconds']:.1f} s")
        return result

    deadline = start + plan.budget_s - SITE_RESERVE_S - PUBLISH_RESERVE_S * len(STUDY_DATASETS)
    with connect(address=plan.address) as ray:
        log(f"Ray: {ray.address} ({'started here' if ray.started else 'joined'})")
        with CampaignRunner(out=plan.out, log=log) as runner:
            for i, ds in enumerate(STUDY_DATASETS):
                log(f"[{i + 1}/{len(STUDY_DATASETS)}] {ds}")
                raw = plan.data.get(ds) or plan.out / "raw" / ds
                prepared = plan.out / "prepared" / ds
                if ds not in plan.data:
                    stage(f"{ds}/synth", lambda ds=ds, raw=raw: _synth(datasets, ds, raw, plan.seed))
                stage(f"{ds}/check", lambda ds=ds, raw=raw: _check(datasets, ds, raw))
                stage(
                    f"{ds}/prepare",
                    lambda ds=ds, raw=raw, prepared=prepared: _prepare(
                        datasets, ds, raw, prepared, plan.seed
                    ),
                )
                # its sweep starts now, while the next datasets are prepared; all end by the deadline
                runner.submit(
                    _sweep_plan(ds, prepared, plan, budget_s=max(45.0, deadline - time.monotonic()))
                )
            runner.wait()
    result = runner.publish(zoo=plan.zoo, site=plan.site)
    entries = {s.name: list(s.entries) for s in result.sweeps}
    summary = summarize(plan, state, entries=entries, wall_s=time.monotonic() - start)
    atomic_write_json(plan.out / "summary.json", summary)
    return summary


def _sweep_plan(ds: str, prepared: Path, plan: QuickstartPlan, *, budget_s: float) -> Any:
    from medzoo import datasets
    from medzoo.search.campaign import SweepPlan

    return SweepPlan(
        name=ds,
        recipe=str(datasets.get(ds).recipe),
        prepared=str(prepared),
        samples=plan.samples,
        time_budget_s=round(budget_s, 1),
        max_concurrent=1,  # the sweeps share the machine; each keeps one trial going
        smoke=True,
        test_top_k=1,
        publish_top=1,
        seed=plan.seed,
    )


def _synth(datasets: Any, ds: str, raw: Path, seed: int) -> dict[str, Any]:
    if raw.exists():  # a synth interrupted half-way: start it over
        import shutil

        shutil.rmtree(raw)
    datasets.synthesize(ds, raw, patients=PHANTOM_PATIENTS[ds], seed=seed)
    return {"raw": str(raw)}


def _check(datasets: Any, ds: str, raw: Path) -> dict[str, Any]:
    report = datasets.check(ds, raw)
    if not report.usable:
        from medzoo.errors import DatasetError

        raise DatasetError(
            f"{raw}: the {ds} download is unusable ({len(report.problems)} problems)",
            fix=f"medzoo datasets check {ds} {raw}",
        )
    return {"problems": len(report.problems), "counts": report.counts}


def _prepare(datasets: Any, ds: str, raw: Path, prepared: Path, seed: int) -> dict[str, Any]:
    if prepared.exists():  # prepare writes atomically: an existing folder is complete but unrecorded
        return {"prepared": str(prepared), "reused": True}
    datasets.prepare(ds, raw, prepared, seed=seed, progress=True)
    return {"prepared": str(prepared)}


def summarize(
    plan: QuickstartPlan, state: _State, *, entries: dict[str, list[str]], wall_s: float
) -> dict[str, Any]:
    """Per dataset: best entry, primary metric with interval, params, GMACs, Grad-CAM pointing game."""
    from medzoo.formats.entry import EntryMetrics

    rows = []
    for ds in STUDY_DATASETS:
        if not entries.get(ds):
            continue
        entry = entries[ds][0]
        m = EntryMetrics.read(_entry_dir(plan.zoo, entry))
        cam = m.gradcam.pointing_game if m.gradcam else None
        rows.append(
            {
                "dataset": ds,
                "entry": entry,
                "primary_metric": m.primary_metric,
                "value": m.primary.value,
                "ci_low": m.primary.ci_low,
                "ci_high": m.primary.ci_high,
                "params": m.complexity.params if m.complexity else None,
                "gmacs": m.complexity.gmacs if m.complexity else None,
                "pointing_game": cam.value if cam else None,
            }
        )
    stages = {k: v.get("seconds") for k, v in state.data["stages"].items()}
    return {
        "out": str(plan.out),
        "zoo": str(plan.zoo),
        "site": str(plan.site),
        "wall_s": round(wall_s, 1),
        "stage_seconds": stages,
        "rows": rows,
    }


def _entry_dir(zoo_root: Path, entry: str) -> Path:
    from medzoo.zoo.entries.store import resolve_entry

    return resolve_entry(entry, zoo=zoo_root).path
