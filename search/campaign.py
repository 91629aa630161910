"""Campaigns: several recipes' sweeps at once on one Ray, then their top entries published and the boards built.

Why: the five studies' sweeps are independent, and one after another they leave a cluster idle
while a small sweep finishes its last trial. A campaign starts every sweep at once, each in its own
Ray driver task (Tune's controller loop) on one shared Ray, with its own per-trial resources and
budget; Ray's scheduler then shares the cluster between them. A campaign file is typed YAML:

    sweeps:
      - name: brain                 # the run folder's name (unique in the campaign)
        recipe: brain-effnet
        prepared: /data/prepared/figshare-brain     # a folder or a storage URI
        samples: 16
        time_budget_s: 3600
        cpus_per_trial: 4
        gpus_per_trial: 1
        publish_top: 3

Progress is recorded in ``<out>/campaign.json`` stage by stage (sweep, publish, site), so a campaign
run again continues: finished sweeps are skipped, started ones resume from Tune's state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medzoo.errors import ConfigError, MedzooError
from medzoo.formats.run import BestTrial
from medzoo.paths import atomic_write_json

STATE_FILE = "campaign.json"


@dataclass(frozen=True, kw_only=True)
class SweepPlan:
    """One sweep of a campaign; the fields mirror ``medzoo sweep``'s options."""

    name: str
    prepared: str
    recipe: str | None = None  # a built-in recipe id ...
    space: str | None = None  # ... or a space file in the recipe schema (exactly one of the two)
    samples: int = 8
    time_budget_s: float | None = None
    cpus_per_trial: float = 1
    gpus_per_trial: float = 0
    max_concurrent: int | None = None
    scheduler: str = "asha"
    search: str = "optuna"
    smoke: bool = False
    test_top_k: int = 1
    publish_top: int = 1
    seed: int = 0


@dataclass(frozen=True, kw_only=True)
class CampaignSpec:
    sweeps: tuple[SweepPlan, ...]


@dataclass(frozen=True, kw_only=True)
class SweepOutcome:
    """What one sweep of a campaign produced (also recorded in campaign.json)."""

    name: str
    run: str
    entries: tuple[str, ...]
    best_trial: str | None
    seconds: float | None


@dataclass(frozen=True, kw_only=True)
class CampaignResult:
    sweeps: tuple[SweepOutcome, ...]
    site: str | None
    wall_s: float


_FIELDS = {f.name: f for f in dataclasses.fields(SweepPlan)}
_NUMBERS = {"samples": int, "max_concurrent": int, "test_top_k": int, "publish_top": int, "seed": int}
_REALS = ("time_budget_s", "cpus_per_trial", "gpus_per_trial")


def parse_campaign(data: Any, *, source: str) -> CampaignSpec:
    """Validate a campaign document: known keys only, typed values, unique names, known recipes."""
    from medzoo.search.recipes import load_recipe

    if not isinstance(data, dict) or set(data) != {"sweeps"}:
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ConfigError(f"{source}: a campaign is a mapping with one key 'sweeps', found {found}")
    items = data["sweeps"]
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{source}: 'sweeps' must be a non-empty list of sweeps")
    plans = tuple(_parse_sweep(item, where=f"{source}: sweeps[{i}]") for i, item in enumerate(items))
    names = [p.name for p in plans]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{source}: sweep names must be unique; {', '.join(dupes)} repeat(s)")
    for i, plan in enumerate(plans):
        if plan.recipe is None:
            continue  # a space file is read (and validated) when its sweep starts
        try:
            load_recipe(plan.recipe)
        except MedzooError as exc:
            raise ConfigError(f"{source}: sweeps[{i}].recipe: {exc.message}", fix=exc.fix) from None
    return CampaignSpec(sweeps=plans)


def _parse_sweep(item: Any, *, where: str) -> SweepPlan:
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be a mapping, found {type(item).__name__}")
    unknown = sorted(set(item) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(_FIELDS)}")
    missing = [k for k in ("name", "prepared") if k not in item]
    if missing:
        raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")
    if ("recipe" in item) == ("space" in item):
        raise ConfigError(f"{where}: give exactly one of recipe (a recipe id) or space (a space file)")
    for key, value in item.items():
        _check_value(key, value, where=where)
    name = item["name"]
    if not name or "/" in name or name.startswith(".") or name != name.strip():
        raise ConfigError(f"{where}.name {name!r} must be a plain folder name (no '/', not hidden)")
    return SweepPlan(**item)


def _check_value(key: str, value: Any, *, where: str) -> None:
    optional = key in ("time_budget_s", "max_concurrent")
    if value is None and optional:
        return
    if key in _NUMBERS:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= (0 if key == "seed" else 1)
        ok = ok or (key == "test_top_k" and value == 0)
        kind = "an integer >= 1"
    elif key in _REALS:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
        ok = ok and (value > 0 or key == "gpus_per_trial")
        kind = "a number > 0" if key != "gpus_per_trial" else "a number >= 0"
    elif key == "smoke":
        ok, kind = isinstance(value, bool), "true or false"
    else:
        ok, kind = isinstance(value, str) and bool(value), "a non-empty string"
    if not ok:
        raise ConfigError(f"{where}.{key} must be {kind}, got {value!r}")


#: the five studies' datasets (each names its study's recipe in its dataset spec)
STUDIES = ("figshare-brain", "all-leukemia", "cbis-ddsm-mass", "brats19-grade", "chestxray14")


def default_campaign(
    prepared: Mapping[str, str | Path],
    *,
    samples: int,
    time_budget_s: float | None,
    smoke: bool,
    seed: int = 0,
) -> CampaignSpec:
    """The five studies' recipes on their prepared sets (``prepared``: dataset id -> folder or URI)."""
    from medzoo import datasets

    missing = [ds for ds in STUDIES if ds not in prepared]
    if missing:
        raise ConfigError(f"the default campaign needs a prepared set for {', '.join(missing)}")
    return CampaignSpec(
        sweeps=tuple(
            SweepPlan(
                name=ds,
                recipe=str(datasets.get(ds).recipe),
                prepared=str(prepared[ds]),
                samples=samples,
                time_budget_s=time_budget_s,
                smoke=smoke,
                seed=seed,
            )
            for ds in STUDIES
        )
    )


def load_campaign(path: str | Path) -> CampaignSpec:
    """A campaign YAML file, validated (:func:`parse_campaign`); relative prepared paths are from the file."""
    import yaml

    path = Path(path).expanduser().resolve()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read campaign file {path}: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    spec = parse_campaign(data, source=str(path))
    plans = [
        dataclasses.replace(
            p,
            prepared=_beside(path, p.prepared),
            space=_beside(path, p.space) if p.space is not None else None,
        )
        for p in spec.sweeps
    ]
    return CampaignSpec(sweeps=tuple(plans))


def _beside(campaign_file: Path, where: str) -> str:
    """A relative path in a campaign file is relative to the file's folder; URIs stay as they are."""
    if "://" in where or Path(where).expanduser().is_absolute():
        return where
    return str((campaign_file.parent / where).resolve())


class _State:
    """``campaign.json``: the stages done, shared by the sweep threads (hence the lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {"stages": {}}

    def done(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            return self.data["stages"].get(key)

    def mark(self, key: str, **result: Any) -> None:
        with self.lock:
            self.data["stages"][key] = result
            atomic_write_json(self.path, self.data)


def run_campaign(
    spec: CampaignSpec,
    *,
    out: Path,
    zoo: Any,
    site: Path | None = None,
    address: str | None = None,
    storage: str | None = None,
    log: Callable[[str], None] = print,
    progress_every_s: float = 15.0,
) -> CampaignResult:
    """Run every sweep of ``spec`` at once on one Ray, publish each one's top entries, build the site.

    Each sweep is :func:`medzoo.search.run` on ``out/runs/<name>`` (``<storage>/runs/<name>`` with a
    ``storage`` URI or shared folder). Resumable: ``out/campaign.json`` records each stage; a sweep
    started before resumes from Tune's state.
    """
    from medzoo.cluster.connect import connect

    with connect(address=address) as ray_conn:
        log(f"Ray: {ray_conn.address} ({'started here' if ray_conn.started else 'joined'})")
        _check_reach(spec, out=out, storage=storage, joined=ray_conn.joined)
        runner = CampaignRunner(out=out, storage=storage, log=log, progress_every_s=progress_every_s)
        for plan in spec.sweeps:
            runner.submit(plan)
        runner.wait()
    return runner.publish(zoo=zoo, site=site)


def _check_reach(spec: CampaignSpec, *, out: Path, storage: str | None, joined: bool) -> None:
    """Before any sweep starts: every node reaches the runs' storage and every local prepared set."""
    from medzoo.search.remote import check_data, check_storage
    from medzoo.storage import location

    check_storage(storage=location(storage) if storage else location(out), joined=joined)
    for plan in spec.sweeps:
        if storage is None:  # with storage, a local set is uploaded there first
            check_data(prepared=plan.prepared, joined=joined)


class CampaignRunner:
    """Sweeps submitted one by one (each starts at once, as a Ray driver task), waited for together.

    For callers that prepare data while earlier sweeps already run (the quickstart): ``submit`` a
    sweep as soon as its prepared set exists, then ``wait``, then ``publish``. Needs a connected Ray.
    """

    def __init__(
        self,
        *,
        out: Path,
        storage: str | None = None,
        log: Callable[[str], None] = print,
        progress_every_s: float = 15.0,
    ) -> None:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        out.mkdir(parents=True, exist_ok=True)
        self.out, self.storage, self.log = out, storage, log
        self.state = _State(out / STATE_FILE)
        self.plans: list[SweepPlan] = []
        self.pending: dict[Any, tuple[SweepPlan, float, float]] = {}
        self.errors: dict[str, BaseException] = {}
        self.t0 = time.monotonic()
        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        self.task = ray.remote(num_cpus=0, max_retries=0)(_run_sweep).options(scheduling_strategy=here)
        self.monitor = _Progress(self, every_s=progress_every_s)
        self.monitor.start()

    def __enter__(self) -> CampaignRunner:
        return self

    def run_location(self, name: str) -> Any:
        """Where sweep ``name``'s run folder lives: ``<storage>/runs/<name>`` or ``<out>/runs/<name>``."""
        from medzoo.storage import location

        root = location(self.storage) if self.storage else location(self.out)
        return root / "runs" / name

    def __exit__(self, kind: type[BaseException] | None, *rest: Any) -> None:
        if kind is KeyboardInterrupt and self.pending:  # Ctrl-C while the caller prepared more data
            self._stop_gracefully()
        if self.monitor.thread.is_alive():
            self.monitor.stop()

    def submit(self, plan: SweepPlan) -> None:
        """Start ``plan``'s sweep now (or skip it: finished in an earlier run of the campaign)."""
        if plan.name in {p.name for p in self.plans}:
            raise ConfigError(f"sweep {plan.name!r} is in the campaign twice")
        self.plans.append(plan)
        if self.state.done(f"{plan.name}/sweep") is not None:
            self.log(f"  skip {plan.name}/sweep: done before")
            return
        self.log(f"  run  {plan.name}/sweep ...")
        ref = self.task.remote(plan, str(self.out), self.storage)
        self.pending[ref] = (plan, time.monotonic(), time.time())

    def wait(self) -> None:
        """Wait for every submitted sweep; raise if any failed (the others stay recorded)."""
        import ray

        try:
            while self.pending:
                ready, _ = ray.wait(list(self.pending), num_returns=1)
                self._finished(ready[0])
        except KeyboardInterrupt:
            self._stop_gracefully()
            raise
        finally:
            self.monitor.stop()
        bugs = [e for e in self.errors.values() if not isinstance(e, MedzooError)]
        if bugs:  # not a user error: keep its traceback
            raise bugs[0]
        if self.errors:
            raise CampaignError(self.errors)

    def _stop_gracefully(self, *, grace_s: float = 60.0) -> None:
        """After Ctrl-C: let the sweeps end as Tune does on Ctrl-C (state saved and signed), then cancel.

        Ctrl-C in a terminal reaches every process of the foreground group, the sweeps' driver tasks
        included, so they are stopping already; cancelling them at once would interrupt them a
        second time, mid-save, and leave state that cannot be resumed. A second Ctrl-C cancels at once.
        """
        import ray

        self.log("  interrupted: the sweeps save their state (Ctrl-C again to stop at once)")
        with contextlib.suppress(KeyboardInterrupt):
            ray.wait(list(self.pending), num_returns=len(self.pending), timeout=grace_s)
        for ref in self.pending:
            ray.cancel(ref)
        self.pending.clear()

    def _finished(self, ref: Any) -> None:
        import ray

        plan, t0, began = self.pending.pop(ref)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            self.errors[plan.name] = exc.cause if isinstance(exc.cause, BaseException) else exc
            self.log(f"  FAIL {plan.name}/sweep: {self.errors[plan.name]}")
            return
        seconds = round(time.monotonic() - t0, 1)
        times = {"seconds": seconds, "began": round(began, 1), "ended": round(time.time(), 1)}
        self.state.mark(f"{plan.name}/sweep", **result, **times)
        self.log(f"  done {plan.name}/sweep in {seconds:.1f} s")

    def publish(self, *, zoo: Any, site: Path | None) -> CampaignResult:
        """Publish each sweep's top entries into ``zoo`` and build the boards' site (each stage once)."""
        outcomes = tuple(
            _publish(p, out=self.out, zoo=zoo, state=self.state, log=self.log) for p in self.plans
        )
        site_path = self.build_site(zoo=zoo, site=site) if site is not None else None
        return CampaignResult(sweeps=outcomes, site=site_path, wall_s=round(time.monotonic() - self.t0, 1))

    def build_site(self, *, zoo: Any, site: Path) -> str:
        """Build the boards' site from ``zoo`` (once: a campaign run again skips it)."""
        return _stage(self.state, "site", self.log, lambda: {"site": str(_build_site(zoo, site))})["site"]


class CampaignError(MedzooError):
    """One or more sweeps of a campaign failed (the others finished and are recorded)."""

    def __init__(self, errors: Mapping[str, BaseException]) -> None:
        lines = "; ".join(f"{name}: {exc}" for name, exc in errors.items())
        super().__init__(
            f"{len(errors)} sweep(s) of the campaign failed: {lines}",
            fix="fix the cause and run the campaign again: finished sweeps are kept, started ones resume",
        )
        self.errors = dict(errors)


def _stage(
    state: _State, key: str, log: Callable[[str], None], fn: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    prior = state.done(key)
    if prior is not None:
        log(f"  skip {key}: done before")
        return prior
    t0, began = time.monotonic(), time.time()
    log(f"  run  {key} ...")
    result = fn()
    result.update(seconds=round(time.monotonic() - t0, 1), began=round(began, 1), ended=round(time.time(), 1))
    state.mark(key, **result)
    log(f"  done {key} in {result['seconds']:.1f} s")
    return result


def _run_sweep(plan: SweepPlan, out: str, storage: str | None) -> dict[str, Any]:
    """One sweep, run in its own Ray driver task; Tune's trial tables go to ``out/logs/<name>.log``."""
    _own_tune_staging(plan.name)
    log_path = Path(out) / "logs" / f"{plan.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with (
        log_path.open("a", encoding="utf-8") as fh,
        contextlib.redirect_stdout(fh),
        contextlib.redirect_stderr(fh),
    ):
        if storage is None and "://" not in plan.prepared:
            run, table, staging = _local_sweep(plan, Path(out))
        else:
            run, table, staging = _stored_sweep(plan, Path(out), storage)
    best = BestTrial.read(staging).trial_id if (staging / "best.json").is_file() else None
    return {"run": run, "trials": len(table), "best_trial": best}


def _own_tune_staging(name: str) -> None:
    """Give this driver process's Tuner its own staging folder on the node.

    Tune stages a driver's experiment files in ``<session>/artifacts/<date_str()>/<experiment>``,
    the timestamp to the second; every medzoo sweep names its experiment "tune", so two sweeps of
    a campaign starting in the same second would share that folder and mix their trials and state.
    Each sweep runs in its own driver-task process with one Tuner, so that process's timestamp
    is made unique by the sweep's name.
    """
    import ray.tune.utils as tune_utils

    stamp = f"{tune_utils.date_str()}-{name}"
    tune_utils.date_str = lambda: stamp


def _local_sweep(plan: SweepPlan, out: Path) -> tuple[str, Any, Path]:
    from medzoo.search.sweep import run

    run_dir = out / "runs" / plan.name
    resume = (run_dir / "run.json").is_file()
    if run_dir.exists() and not resume:  # interrupted before the sweep recorded anything
        import shutil

        shutil.rmtree(run_dir)
    if resume:
        return str(run_dir), run(out=run_dir, resume=True, progress=True), run_dir
    return str(run_dir), run(out=run_dir, progress=True, **sweep_kwargs(plan)), run_dir


def _stored_sweep(plan: SweepPlan, out: Path, storage: str | None) -> tuple[str, Any, Path]:
    """A sweep whose run (``<storage>/runs/<name>``) or data live in storage (medzoo.search.remote)."""
    from medzoo.paths import resolve_home
    from medzoo.search.remote import resolve_resume, resolve_target
    from medzoo.search.sweep import SweepSpec, resume, run
    from medzoo.storage import location

    home = resolve_home()
    root = location(storage) if storage else None
    run_loc = root / "runs" / plan.name if root is not None else location(out / "runs" / plan.name)
    if (run_loc / "run.json").is_file():
        target, run_dir = resolve_resume(out=run_loc.uri, home=home)
        return run_loc.uri, resume(run_dir, progress=True, target=target), run_dir
    target = resolve_target(prepared=plan.prepared, out=run_loc.uri, storage=root, name=plan.name, home=home)
    options = {k: v for k, v in sweep_kwargs(plan).items() if k != "prepared"}
    spec = SweepSpec.build(prepared=target.prepared, out=target.out, **options)
    return run_loc.uri, run(spec, progress=True, target=target), target.out


def _publish(
    plan: SweepPlan, *, out: Path, zoo: Any, state: _State, log: Callable[[str], None]
) -> SweepOutcome:
    from medzoo import zoo as zoo_api

    swept = state.done(f"{plan.name}/sweep") or {}
    run_dir = swept.get("run", str(out / "runs" / plan.name))

    def publish() -> dict[str, Any]:
        top = _publishable(run_dir, plan.publish_top)
        if top < plan.publish_top:
            log(
                f"  {plan.name}: {top} trial(s) finished and tested, so {top} of {plan.publish_top} published"
            )
        return {"entries": [str(e) for e in zoo_api.publish(run_dir, top=top, zoo=zoo)]}

    published = _stage(state, f"{plan.name}/publish", log, publish)
    return SweepOutcome(
        name=plan.name,
        run=run_dir,
        entries=tuple(published["entries"]),
        best_trial=swept.get("best_trial"),
        seconds=swept.get("seconds"),
    )


def _publishable(run: str, want: int) -> int:
    """How many of the run's top ``want`` trials can be published: ranked and evaluated on test.

    A sweep stopped by its time budget may have fewer finished trials than the campaign asked
    to publish; publishing what there is beats failing the whole campaign at its last step.
    """
    from medzoo.formats.run import RunInfo, read_results

    frame = read_results(run)
    column = f"test_{RunInfo.read(run).primary_metric}"
    if "rank" not in frame.columns or column not in frame.columns:
        return want  # let publish say what is missing
    tested = int((frame["rank"].notna() & frame[column].notna()).sum())
    return max(1, min(want, tested))


def _build_site(zoo: Any, site: Path) -> Path:
    from medzoo import leaderboards

    return leaderboards.build_site(zoo=zoo, out=site)


# -- progress a person reads --------------------------------------------------------------------


class _Progress:
    """A thread that logs one line per sweep whenever it changed (checked every ``every_s``).

    Each sweep's driver writes ``RUN/progress.json`` (:mod:`medzoo.search.progress`); it is read
    through :mod:`medzoo.storage`, so the lines work the same for runs in a bucket. Tune's own
    trial tables go to ``<out>/logs/<name>.log``, never to the terminal.
    """

    def __init__(self, runner: CampaignRunner, *, every_s: float) -> None:
        self.runner, self.every_s = runner, every_s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="campaign-progress", daemon=True)
        self.last: dict[str, str] = {}

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
        self._report()

    def _loop(self) -> None:
        while not self.stopped.wait(self.every_s):
            self._report()

    def _report(self) -> None:
        from medzoo.search.progress import format_line, read_progress

        runner = self.runner
        for plan in list(runner.plans):
            done = runner.state.done(f"{plan.name}/sweep") is not None
            p = read_progress(runner.run_location(plan.name))
            if p is None and done:
                continue  # finished in an earlier run of the campaign: nothing new to say
            line = format_line(plan.name, p, done=done)
            key = line.rsplit(";", 1)[0]
            if self.last.get(plan.name) != key:
                self.last[plan.name] = key
                runner.log(line)


def sweep_kwargs(plan: SweepPlan) -> dict[str, Any]:
    """The keyword options :func:`medzoo.search.run` takes for ``plan`` (its SweepSpec fields)."""
    return {k: v for k, v in dataclasses.asdict(plan).items() if k not in ("name", "publish_top")}
