"""Fail early, before any trial starts: storage that the cluster's nodes cannot all reach.

Ray Tune needs cloud storage or a mount every node shares for a multi-node run (since Ray 2.7);
without it, every trial on another node fails at its first checkpoint and the user learns it
minutes later from a misleading summary. So a sweep checks first: the storage answers (endpoint,
credentials, bucket: :func:`medzoo.storage.check_reachable`), and when it is a local folder on a
joined cluster, a probe file written by the driver is looked for from a task pinned to every
alive node. A node that does not see it means the folder is not shared.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medzoo.errors import SweepError
from medzoo.paths import atomic_write_bytes
from medzoo.search.datacache import DataRef
from medzoo.storage import Location, check_reachable, location

if TYPE_CHECKING:
    from medzoo.search.evaluation import TestJob

#: what a test evaluation writes into its trial folder
EVAL_OUTPUTS = ("test_metrics.json", "test_outputs.npz")
TUNE_DIR = "tune"  # the Tune experiment's folder inside a run (as medzoo.search.sweep names it)

SHARED_FIX = "pass --storage s3://bucket/prefix or a path every node mounts"


@dataclass(frozen=True, kw_only=True)
class NodeView:
    """Whether one node sees the driver's probe file."""

    node_id: str
    address: str
    sees_probe: bool


def check_storage(*, storage: Location, joined: bool, timeout_s: float = 120) -> None:
    """Raise a one-line error with the fix unless every node of the sweep can reach ``storage``.

    ``joined`` is True when the sweep joined a cluster (``--address``); a Ray the sweep started
    itself is one machine, where a local folder is shared by construction.
    """
    check_reachable(storage)
    if not joined or not storage.is_local:
        return
    blind = [v for v in probe_nodes(storage=storage, timeout_s=timeout_s) if not v.sees_probe]
    if blind:
        names = ", ".join(sorted({v.address for v in blind}))
        raise SweepError(
            f"storage {storage.uri} is a folder on this machine that {len(blind)} node(s) of the cluster "
            f"({names}) do not see; Ray Tune needs storage that every node reaches",
            fix=SHARED_FIX,
        )


def check_data(*, prepared: str, joined: bool, timeout_s: float = 120) -> None:
    """A prepared set read in place (a local folder) must be visible on every node of a joined cluster."""
    source = location(prepared)
    if not joined or not source.is_local:
        return
    blind = [v for v in _nodes_seeing(str(source / "dataset.json"), timeout_s=timeout_s) if not v.sees_probe]
    if blind:
        names = ", ".join(sorted({v.address for v in blind}))
        raise SweepError(
            f"prepared set {source.uri} is a folder on this machine that {len(blind)} node(s) of the cluster "
            f"({names}) do not see",
            fix=SHARED_FIX,
        )


def probe_nodes(*, storage: Location, timeout_s: float) -> list[NodeView]:
    """Write a probe under ``storage`` and ask a task pinned to each alive node whether it sees it."""
    storage.local_path().mkdir(parents=True, exist_ok=True)
    probe = storage / f".medzoo-probe-{uuid.uuid4().hex}"
    probe.write_text("medzoo shared-storage probe\n")
    try:
        return _nodes_seeing(str(probe.local_path()), timeout_s=timeout_s)
    finally:
        probe.delete()


def _nodes_seeing(path: str, *, timeout_s: float) -> list[NodeView]:
    """Ask a task pinned to each alive node (no CPU needed) whether the file ``path`` exists there."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    sees = ray.remote(num_cpus=0, max_retries=0)(_sees)
    refs = [
        sees.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=n["NodeID"], soft=False)
        ).remote(path)
        for n in nodes
    ]
    try:
        seen = ray.get(refs, timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        raise SweepError(
            f"the cluster's nodes did not answer a storage probe within {timeout_s:g} s",
            fix="check `ray status` (every node alive, none stuck) and try again",
        ) from None
    return [
        NodeView(node_id=n["NodeID"], address=n.get("NodeManagerAddress", "?"), sees_probe=bool(s))
        for n, s in zip(nodes, seen, strict=True)
    ]


def _sees(path: str) -> bool:
    return os.path.isfile(path)


# -- test evaluation where the resources are ----------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ClusterEvaluator:
    """Runs the top-K test evaluations as Ray tasks with a trial's resources (a GPU when trials had one).

    The driver may be a laptop or a CPU-only head; the test split should be scored where the
    trials ran. Each task gets the trial's files (weights and trial.json, small) through Ray's
    object store and the prepared set through the node's cache, so no disk is shared; the
    outputs it writes (test_metrics.json, test_outputs.npz) come back into the driver's trial folder.
    """

    data: DataRef
    num_cpus: float
    num_gpus: float

    def __call__(self, jobs: Sequence[TestJob]) -> list[dict[str, Any]]:
        import ray

        task = ray.remote(num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=1)(_evaluate_on_node)
        refs = [task.remote(job, _trial_files(Path(job.trial_dir)), self.data) for job in jobs]
        results = []
        for job, ref in zip(jobs, refs, strict=True):
            result, outputs = ray.get(ref)
            for name, data in outputs.items():
                atomic_write_bytes(Path(job.trial_dir) / name, data)
            results.append(result)
        return results


def _trial_files(trial_dir: Path) -> dict[str, bytes]:
    """The regular files at the top of a trial folder (weights, trial.json, curves), links refused."""
    return {rel: loc.read_bytes() for rel, loc in location(trial_dir).walk() if "/" not in rel}


def _evaluate_on_node(
    job: TestJob, files: dict[str, bytes], data: DataRef
) -> tuple[dict[str, Any], dict[str, bytes]]:
    import dataclasses
    import tempfile

    from medzoo.paths import resolve_home
    from medzoo.search.datacache import materialize

    prepared = materialize(data, cache_root=resolve_home() / "cache").path
    with tempfile.TemporaryDirectory(prefix="medzoo-test-") as tmp:
        for name, blob in files.items():
            (Path(tmp) / name).write_bytes(blob)
        result = dataclasses.replace(job, trial_dir=tmp, prepared=str(prepared)).run()
        outputs = {n: (Path(tmp) / n).read_bytes() for n in EVAL_OUTPUTS if (Path(tmp) / n).is_file()}
    return result, outputs


# -- a run folder in storage ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunStore:
    """A run folder in storage and the driver's local staging copy of medzoo's own run files.

    Tune writes its state and the trials' checkpoints straight to ``<remote>/tune`` (Ray's
    ``storage_path``/``storage_filesystem``); medzoo's files (run.json, results.parquet, best.json,
    trials/) are written in ``staging`` by the sweep's own code and pushed to ``remote`` through
    :mod:`medzoo.storage`, so a resume from another machine needs nothing but the URI.
    """

    remote: Location
    staging: Path

    @property
    def tune(self) -> Location:
        return self.remote / TUNE_DIR

    def tune_storage(self) -> tuple[str, Any]:
        """``(storage_path, storage_filesystem)`` for Tune's RunConfig (the experiment is named "tune")."""
        fs, path = self.remote.filesystem()
        return path, fs

    def push(self) -> None:
        """Upload the staging folder's files (never Tune's state, which Tune writes itself)."""
        for rel, src in location(self.staging).walk():
            if not rel.startswith(f"{TUNE_DIR}/"):
                (self.remote / rel).write_bytes(src.read_bytes())

    def push_files(self, *names: str) -> None:
        """Upload these top-level staging files (those that exist): e.g. the Optuna journal that Tune's
        searcher state refers to, uploaded before each save of that state so storage never holds a
        state whose journal it lacks."""
        for name in names:
            src = self.staging / name
            if src.is_file():
                (self.remote / name).write_bytes(location(src).read_bytes())

    @contextlib.contextmanager
    def pushing(self, *, every_s: float = 20.0) -> Iterator[None]:
        """Push the staging folder every ``every_s`` while the sweep runs, so a killed driver's run
        (its run.json, the Optuna journal) can be resumed elsewhere from storage alone."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(every_s):
                with contextlib.suppress(OSError):  # a transient storage error: the next round pushes
                    self.push()

        thread = threading.Thread(target=loop, name="medzoo-push-run", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def pull(self) -> None:
        """Fill an empty staging folder from storage (to resume on another machine)."""
        self.staging.mkdir(parents=True, exist_ok=True)
        for rel, src in self.remote.walk():
            if not rel.startswith(f"{TUNE_DIR}/"):
                atomic_write_bytes(self.staging / rel, src.read_bytes())

    def can_restore(self) -> bool:
        from ray import tune

        fs, path = self.tune.filesystem()
        return bool(self.tune.exists()) and tune.Tuner.can_restore(path, storage_filesystem=fs)


# -- where a sweep's run and data live -----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunTarget:
    """A sweep's places, resolved once in the driver: the local run folder it writes, the run in
    storage it mirrors to (None when the run folder itself is the storage), and its data."""

    out: Path  # the run folder the sweep writes; a staging folder when ``store`` is set
    store: RunStore | None
    data: DataRef  # the prepared set as every trial reaches it
    prepared: Path  # the prepared set on this machine (read by the driver)


def resolve_target(
    *, prepared: str, out: str | None, storage: Location | None, name: str, home: Path
) -> RunTarget:
    """Resolve ``--out``/``--storage`` for a new sweep and publish its prepared set where nodes reach it.

    ``--out`` an object-store URI, or no ``--out`` with an object-store ``--storage``, puts the run
    at that URI (``<storage>/runs/<name>``); a local ``--out`` (or a local storage) is the run folder
    itself. A local prepared set is uploaded once to ``<storage>/datasets/``.
    """
    from medzoo.search.datacache import materialize, publish

    runs = storage / "runs" if storage is not None else location(home / "runs")
    run_loc = runs / name if out is None else location(out)
    check_reachable(run_loc)
    if storage is not None:
        check_reachable(storage)
    elif not run_loc.is_local:  # --out s3://b/p/runs/NAME alone: the data go beside the runs
        storage = run_loc.parent.parent if run_loc.parent.name == "runs" else run_loc.parent
    data = publish(prepared=prepared, storage=storage)
    source = location(prepared)  # the driver reads a local set in place, never a download of its upload
    local = source.local_path() if source.is_local else materialize(data, cache_root=home / "cache").path
    if run_loc.is_local:
        return RunTarget(out=run_loc.local_path(), store=None, data=data, prepared=local)
    return RunTarget(
        out=_staging(home, run_loc),
        store=RunStore(remote=run_loc, staging=_staging(home, run_loc)),
        data=data,
        prepared=local,
    )


def resolve_resume(*, out: str, home: Path) -> tuple[RunTarget | None, Path]:
    """``(target, local run folder)`` for ``--resume --out RUN``; a URI run is pulled into staging first.

    A local run folder resumes as it always did (target None); a run in object storage needs nothing
    but its URI (and the user's signing key): its files come back from storage, its data from the
    URI its run.json records.
    """
    import shutil

    from medzoo.formats.run import RunInfo
    from medzoo.search.datacache import materialize, publish

    run_loc = location(out)
    if run_loc.is_local:  # as it always did, unless its trials opened their data by URI
        run_dir = run_loc.local_path()
        if not (run_dir / "run.json").is_file() or "://" not in RunInfo.read(run_dir).prepared:
            return None, run_dir
        data = publish(prepared=RunInfo.read(run_dir).prepared, storage=None)
        local = materialize(data, cache_root=home / "cache").path
        return RunTarget(out=run_dir, store=None, data=data, prepared=local), run_dir
    check_reachable(run_loc)
    if not (run_loc / "run.json").is_file():
        raise SweepError(
            f"cannot resume: {run_loc.uri} has no run.json (no sweep was started there)",
            fix="check the URI (medzoo sweep ... --storage URI puts runs under URI/runs/NAME)",
        )
    staging = _staging(home, run_loc)
    if staging.exists():
        shutil.rmtree(staging)  # storage is the truth; a stale staging copy must not win
    store = RunStore(remote=run_loc, staging=staging)
    store.pull()
    info = RunInfo.read(staging)
    data = publish(prepared=info.prepared, storage=None)  # the set the trials opened, by URI
    local = materialize(data, cache_root=home / "cache").path
    return RunTarget(out=staging, store=store, data=data, prepared=local), staging


def _staging(home: Path, run: Location) -> Path:
    import hashlib

    return home / "staging" / hashlib.sha256(run.uri.encode()).hexdigest()[:16] / run.name
