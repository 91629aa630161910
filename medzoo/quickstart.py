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

from medzoo.errors import ConfigError, MedzooError
from medzoo.paths import atomic_write_json

#: the five studies' datasets, in the order the quickstart runs them
STUDY_DATASETS = ("figshare-brain", "all-leukemia", "cbis-ddsm-mass", "brats19-grade", "chestxray14")

#: phantom size per dataset: enough validation and test images that selection and the test interval
#: mean something (cbis-ddsm-mass at 80 patients left 16 validation images), small enough for the budget;
#: the phantoms' difficulty per image is untouched
PHANTOM_PATIENTS = {
    "figshare-brain": 160,
    "all-leukemia": 100,
    "cbis-ddsm-mass": 200,
    "brats19-grade": 30,
    "chestxray14": 300,
}

#: entries published per dataset (the top of each sweep, one per family first), so boards compare
PUBLISH_TOP = 3

#: seconds kept back per dataset for the sweep's test evaluation and publishing its entries
#: (Grad-CAM, plots, card), and once for the cross-dataset evaluation and the site
PUBLISH_RESERVE_S = 25.0
SITE_RESERVE_S = 20.0


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
    sweep's top entries, the figshare-brain selection is evaluated on the kaggle-brain-mri phantom
    (prepared while the sweeps run), and the boards are built.
    """
    from medzoo.cluster.connect import connect
    from medzoo.search.campaign import CampaignRunner

    plan.out.mkdir(parents=True, exist_ok=True)
    stage = _Stages(_State(plan.out / "quickstart.json"), log)
    start = time.monotonic()
    deadline = start + plan.budget_s - SITE_RESERVE_S - PUBLISH_RESERVE_S * len(STUDY_DATASETS)
    with connect(address=plan.address) as ray:
        log(f"Ray: {ray.address} ({'started here' if ray.started else 'joined'})")
        share = sharing(len(STUDY_DATASETS))
        log(f"each sweep runs {share.concurrent} trial(s) at once, {share.cpus:g} CPU each")
        with CampaignRunner(out=plan.out, log=log) as runner:
            for i, ds in enumerate(STUDY_DATASETS):
                log(f"[{i + 1}/{len(STUDY_DATASETS)}] {ds}")
                prepared = _data(stage, ds, plan)
                # its sweep starts now, while the next datasets are prepared; all end by the deadline
                budget_s = max(45.0, deadline - time.monotonic())
                runner.submit(_sweep_plan(ds, prepared, plan, budget_s=budget_s, share=share))
            cross = _cross_dataset_set(stage, plan)
            runner.wait()
    result = runner.publish(zoo=plan.zoo, site=None)
    entries = {s.name: list(s.entries) for s in result.sweeps}
    if cross is not None and entries.get("figshare-brain"):
        entries["figshare-brain"][0] = _cross_dataset(stage, plan, entries["figshare-brain"][0], cross)
    runner.build_site(zoo=plan.zoo, site=plan.site)
    summary = summarize(plan, stage.state, entries=entries, wall_s=time.monotonic() - start)
    atomic_write_json(plan.out / "summary.json", summary)
    return summary


class _Stages:
    """Runs a named stage once: a stage recorded in ``quickstart.json`` is skipped when run again."""

    def __init__(self, state: _State, log: Callable[[str], None]) -> None:
        self.state, self.log = state, log

    def __call__(self, key: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        prior = self.state.done(key)
        if prior is not None:
            self.log(f"  skip {key}: done before")
            return prior
        t0 = time.monotonic()
        self.log(f"  run  {key} ...")
        result = fn()
        result["seconds"] = round(time.monotonic() - t0, 1)
        self.state.mark(key, **result)
        self.log(f"  done {key} in {result['seconds']:.1f} s")
        return result


def _data(stage: _Stages, ds: str, plan: QuickstartPlan) -> Path:
    """Synthesise (unless a real download was given), check and prepare ``ds``; its prepared folder."""
    from medzoo import datasets

    raw = plan.data.get(ds) or plan.out / "raw" / ds
    prepared = plan.out / "prepared" / ds
    if ds not in plan.data:
        stage(f"{ds}/synth", lambda: _synth(datasets, ds, raw, plan.seed))
    stage(f"{ds}/check", lambda: _check(datasets, ds, raw))
    stage(f"{ds}/prepare", lambda: _prepare(datasets, ds, raw, prepared, plan.seed))
    return prepared


#: the dataset the figshare-brain selection is evaluated on, and its phantom's size
CROSS_DATASET = "kaggle-brain-mri"
CROSS_PATIENTS = 120


def _cross_dataset_set(stage: _Stages, plan: QuickstartPlan) -> Path | None:
    """The kaggle-brain-mri phantom, prepared while the sweeps run (None: figshare-brain is real data,
    or this medzoo has no cross-dataset evaluation)."""
    if "figshare-brain" in plan.data or not _has_evaluate():
        return None
    from medzoo import datasets

    raw, prepared = plan.out / "raw" / CROSS_DATASET, plan.out / "prepared" / CROSS_DATASET
    log_name = f"[+] {CROSS_DATASET} (cross-dataset evaluation of the figshare-brain selection)"
    stage.log(log_name)
    stage(f"{CROSS_DATASET}/synth", lambda: _synth(datasets, CROSS_DATASET, raw, plan.seed, CROSS_PATIENTS))
    stage(f"{CROSS_DATASET}/check", lambda: _check(datasets, CROSS_DATASET, raw))
    stage(f"{CROSS_DATASET}/prepare", lambda: _prepare(datasets, CROSS_DATASET, raw, prepared, plan.seed))
    return prepared


def _has_evaluate() -> bool:
    import importlib.util

    return importlib.util.find_spec("medzoo.zoo.entries.evaluate") is not None


def _cross_dataset(stage: _Stages, plan: QuickstartPlan, entry: str, prepared: Path) -> str:
    """Evaluate ``entry`` on the cross-dataset phantom (training-set duplicates removed); the new revision."""

    def evaluate() -> dict[str, Any]:
        from medzoo.zoo.entries.evaluate import evaluate_entry

        return {"entry": evaluate_entry(entry=entry, prepared=prepared, zoo=plan.zoo, seed=plan.seed)}

    try:
        return str(stage(f"figshare-brain/{CROSS_DATASET}", evaluate)["entry"])
    except MedzooError as exc:  # the sweeps' entries stand; the summary says what is missing
        stage.log(f"  FAIL figshare-brain/{CROSS_DATASET}: {exc.message}")
        return entry


#: resident memory of one smoke trial's worker process (torch, timm, the decoded images), measured
TRIAL_MEMORY_BYTES = 0.8e9


@dataclass(frozen=True)
class Sharing:
    """How the sweeps share the Ray in use: trials at once per sweep, and CPUs per trial."""

    concurrent: int
    cpus: float


def sharing(sweeps: int) -> Sharing:
    """Every sweep keeps ``concurrent`` trials going at once, with fractional CPUs so all of them run.

    Why: with a whole CPU per trial, a 2-core machine runs two trials while the other sweeps wait
    (Tune keeps a finished trial's worker for that sweep's next trial), so the last sweeps would
    get little or no time before the shared deadline. A fractional share lets the operating
    system interleave them all. Up to :data:`PUBLISH_TOP` trials per sweep train side by side
    (the seeded families start together) where Ray's memory allows about
    :data:`TRIAL_MEMORY_BYTES` each; on a small machine one at a time. On a bigger cluster a trial
    gets one CPU.
    """
    import ray

    resources = ray.cluster_resources()
    fits = int(float(resources.get("memory", 0.0)) // (TRIAL_MEMORY_BYTES * max(sweeps, 1)))
    concurrent = max(1, min(PUBLISH_TOP, fits))
    cpus = float(resources.get("CPU", 1.0)) / (max(sweeps, 1) * concurrent)
    return Sharing(concurrent=concurrent, cpus=max(0.01, round(min(1.0, cpus), 2)))


def _sweep_plan(ds: str, prepared: Path, plan: QuickstartPlan, *, budget_s: float, share: Sharing) -> Any:
    from medzoo import datasets
    from medzoo.search.campaign import SweepPlan

    return SweepPlan(
        name=ds,
        recipe=str(datasets.get(ds).recipe),
        prepared=str(prepared),
        samples=plan.samples,
        time_budget_s=round(budget_s, 1),
        cpus_per_trial=share.cpus,
        max_concurrent=share.concurrent,
        smoke=True,
        test_top_k=PUBLISH_TOP,
        publish_top=PUBLISH_TOP,
        seed=plan.seed,
    )


def _synth(datasets: Any, ds: str, raw: Path, seed: int, patients: int | None = None) -> dict[str, Any]:
    if raw.exists():  # a synth interrupted half-way: start it over
        import shutil

        shutil.rmtree(raw)
    datasets.synthesize(ds, raw, patients=patients or PHANTOM_PATIENTS[ds], seed=seed)
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
    from medzoo.formats.entry import EntryConfig, EntryMetrics

    rows = []
    for ds in STUDY_DATASETS:
        if not entries.get(ds):
            continue
        entry = entries[ds][0]  # the sweep's selection (on validation), published first
        where = _entry_dir(plan.zoo, entry)
        m = EntryMetrics.read(where)
        chance = chance_level(m.primary_metric, num_classes=EntryConfig.read(where).num_classes)
        cam = m.gradcam.pointing_game if m.gradcam else None
        rows.append(
            {
                "dataset": ds,
                "entry": entry,
                "entries": len(entries[ds]),
                "primary_metric": m.primary_metric,
                "value": m.primary.value,
                "ci_low": m.primary.ci_low,
                "ci_high": m.primary.ci_high,
                "chance": chance,
                "above_chance": m.primary.ci_low > chance,
                **_board_counts(plan.zoo, ds),
                **_cross_summary(m),
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


def _cross_summary(m: Any) -> dict[str, Any]:
    """The entry's cross-dataset result (kaggle-brain-mri), when it has one."""
    block = m.cross_dataset.get(CROSS_DATASET)
    if block is None or m.primary_metric not in block.metrics:
        return {}
    iv = block.metrics[m.primary_metric]
    return {
        "cross_dataset": {
            "dataset": CROSS_DATASET,
            "n": block.n,
            "removed_duplicates": block.removed_duplicates,
            "value": iv.value,
            "ci_low": iv.ci_low,
            "ci_high": iv.ci_high,
        }
    }


def _board_counts(zoo: Path, ds: str) -> dict[str, int]:
    """How many entries the dataset's board ranks, and how many of them are on its Pareto front."""
    from medzoo.leaderboards import table

    rows = table(ds, zoo=zoo).rows
    return {"board_rows": len(rows), "pareto_points": sum(bool(r.pareto) for r in rows)}


def chance_level(metric: str, *, num_classes: int) -> float:
    """What guessing scores: 1/classes for accuracy-like metrics, 0.5 for the AUC family."""
    if "auc" in metric or "auroc" in metric:
        return 0.5
    if metric in ("accuracy", "balanced_accuracy", "macro_recall"):
        return 1.0 / max(num_classes, 1)
    raise ConfigError(f"no chance level is defined for the metric {metric!r}")


def _entry_dir(zoo_root: Path, entry: str) -> Path:
    from medzoo.zoo.entries.store import resolve_entry

    return resolve_entry(entry, zoo=zoo_root).path
