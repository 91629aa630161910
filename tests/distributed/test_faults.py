"""Faults on a multi-node Ray with S3 storage: a node lost mid-sweep, the driver killed and resumed elsewhere,
a data-parallel trial that loses a worker's node, unreadable data in a data-parallel trial."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from distparts import S3, medzoo_cli, private_ray_tmpdir, tiny_space

from medzoo.search.signing import SEALED
from medzoo.storage import Location, location

pytestmark = [pytest.mark.slow, pytest.mark.ray]


@pytest.fixture
def cluster(s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A head without CPUs (no trial runs there); the tests add and remove worker nodes."""
    from ray.cluster_utils import Cluster

    ray_tmp = private_ray_tmpdir(monkeypatch)

    aws = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    c = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "include_dashboard": False,
            "env_vars": {**aws, "MEDZOO_HOME": str(tmp_path / "n0")},
        },
    )
    try:
        yield c
    finally:
        c.shutdown()
        shutil.rmtree(ray_tmp, ignore_errors=True)


#: Ray Train's limits for starting a worker group and for a worker's health check answer: its defaults
#: (60 s) are for real machines, not for a test cluster of 2 shared cores where a worker imports torch slowly
SLOW_MACHINE = {
    "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "600",
    "RAY_TRAIN_WORKER_HEALTH_CHECK_TIMEOUT_S": "600",
}


def _node(cluster: object, tmp_path: Path, name: str, cpus: int, env: dict[str, str] | None = None) -> object:
    aws = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    node = cluster.add_node(
        num_cpus=cpus, env_vars={**aws, **(env or {}), "MEDZOO_HOME": str(tmp_path / name)}
    )
    cluster.wait_for_nodes()
    return node


def _checkpointed(run: Location, at_least: int) -> int:
    """How many trials have at least ``at_least`` checkpoints in storage."""
    counts: dict[str, set[str]] = {}
    if not (run / "tune").exists():
        return 0
    for rel, _ in (run / "tune").walk():
        parts = rel.split("/")
        if len(parts) >= 3 and parts[1].startswith("checkpoint_"):
            counts.setdefault(parts[0], set()).add(parts[1])
    return sum(len(c) >= at_least for c in counts.values())


def _sweep_args(prepared: Path, run_uri: str, address: str, storage: str, space: Path) -> list[str]:
    args = ["sweep", str(prepared), "--space", str(space), "--smoke", "--samples", "2", "--scheduler", "fifo"]
    return args + ["--test-top-k", "1", "--storage", storage, "--out", run_uri, "--address", address]


def _start_driver(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "medzoo", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait(proc: subprocess.Popen[str], cond: Callable[[], bool], what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, (
            f"the driver ended before {what}:\n{proc.stdout.read() if proc.stdout else ''}"
        )
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"no {what} within {timeout} s:\n{proc.communicate()[0][-5000:]}")
        time.sleep(1)


def _results(run: Location) -> dict[str, list[dict]]:
    """Per trial, Tune's result log in storage (one line per reported epoch)."""
    out = {}
    for entry in (run / "tune").iterdir():
        log = entry / "result.json"
        if log.is_file():
            out[entry.name] = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    return out


def _epochs(run: Location) -> dict[str, list[int]]:
    return {t: [int(x["training_iteration"]) for x in lines] for t, lines in _results(run).items()}


def _finished(run: Location) -> object:
    import pandas as pd

    return pd.read_parquet(io.BytesIO((run / "results.parquet").read_bytes()))


def test_a_worker_node_lost_mid_sweep_resumes_its_trials_from_checkpoints(
    s3: S3, cluster: object, prepared_phantom: Callable[[str], Path], tmp_path: Path
) -> None:
    doomed = _node(cluster, tmp_path, "n1", cpus=2)
    run = location(s3.uri("lab/runs/f1"))
    env = {**os.environ, "MEDZOO_HOME": str(tmp_path / "driver")}
    space = tiny_space(tmp_path, epochs=6)
    args = _sweep_args(prepared_phantom("figshare-brain"), run.uri, cluster.address, s3.uri("lab"), space)
    proc = _start_driver(args, env, tmp_path)
    try:
        _wait(proc, lambda: _checkpointed(run, 2) >= 2, "two trials with two checkpoints")
        _node(cluster, tmp_path, "n2", cpus=2)  # where the trials go on
        cluster.remove_node(doomed, allow_graceful=False)
        log = proc.communicate(timeout=300)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, log[-3000:]
    frame = _finished(run)
    assert len(frame) == 2 and set(frame["status"]) == {"TERMINATED"}, frame[["trial_id", "status", "error"]]
    epochs = _epochs(run)
    for trial, seen in epochs.items():  # Tune's log may miss the line of an epoch reported as the node died
        assert len(seen) == len(set(seen)) and seen == sorted(seen), f"{trial}: an epoch ran twice: {seen}"
    for trial in frame["trial_id"]:  # medzoo's own record, carried in the checkpoints: every epoch once
        history = json.loads((run / "trials" / trial / "history.json").read_text())
        assert [row["epoch"] for row in history] == list(range(1, 7)), f"{trial}: {history}"
    resumed = [  # a trial that went on from its checkpoint counts its iterations since that restore
        t
        for t, lines in _results(run).items()
        if any(x["iterations_since_restore"] < x["training_iteration"] for x in lines)
    ]
    print("epochs recorded per trial after node loss:", epochs, "resumed from a checkpoint:", resumed)


def test_a_killed_driver_resumes_from_another_folder_with_only_the_storage_uri(
    s3: S3, cluster: object, prepared_phantom: Callable[[str], Path], tmp_path: Path
) -> None:
    _node(cluster, tmp_path, "n1", cpus=2)
    run = location(s3.uri("lab/runs/f2"))
    home = tmp_path / "driver"
    env = {**os.environ, "MEDZOO_HOME": str(home)}
    first = tmp_path / "first-cwd"
    first.mkdir()
    space = tiny_space(tmp_path, epochs=6)
    args = _sweep_args(prepared_phantom("figshare-brain"), run.uri, cluster.address, s3.uri("lab"), space)
    proc = _start_driver(args, env, first)
    try:
        _wait(proc, lambda: _checkpointed(run, 1) >= 1, "a checkpoint")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not (run / "best.json").exists()
    assert (run / "tune" / SEALED).is_file()  # every save was sealed before Tune uploaded it
    # what a driver killed in the middle of an upload leaves: a state file no signature covers (here
    # the newest experiment state, the one Tune would restore), which resume must never unpickle
    states = sorted(x for x in (run / "tune").iterdir() if x.name.startswith("experiment_state-"))
    torn = run / "tune" / states[-1].name.replace("experiment_state-", "experiment_state-~")
    torn.write_bytes(states[-1].read_bytes() + b" ")
    shutil.rmtree(first)  # nothing of the first driver's folders is needed: only the key and the URI
    for folder in ("staging", "cache", "runs"):
        shutil.rmtree(home / folder, ignore_errors=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = medzoo_cli(
        ["sweep", "--resume", "--out", run.uri, "--address", cluster.address],
        env=env,
        timeout=400,
        cwd=elsewhere,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "restoring its last sealed generation" in done.stderr and torn.name in done.stderr
    assert not torn.exists()
    frame = _finished(run)
    assert len(frame) == 2 and set(frame["status"]) == {"TERMINATED"}
    assert (run / "best.json").is_file()
    for trial in frame["trial_id"]:
        history = json.loads((run / "trials" / trial / "history.json").read_text())
        assert [row["epoch"] for row in history] == list(range(1, 7)), f"{trial}: {history}"
    epochs = _epochs(run)
    print("epochs recorded per trial after the driver was killed and resumed:", epochs)


def _train_checkpoints(run: Location) -> int:
    """Ray Train checkpoints of the data-parallel trials in the run's storage (``RUN/train/<name>/``)."""
    if not (run / "train").exists():
        return 0
    return len({rel.split("/")[1] for rel, _ in (run / "train").walk() if "/checkpoint_" in f"/{rel}"})


def _started(run: Location) -> bool:
    tune = run / "tune"
    return tune.exists() and any((x / "params.json").is_file() for x in tune.iterdir() if "." not in x.name)


def _failures(run: Location, trial: str) -> int:
    """How many times Tune saw the trial fail (its error.txt, one "Failure #" per failure)."""
    errors = run / "tune" / trial / "error.txt"
    return errors.read_text().count("Failure #") if errors.is_file() else 0


def test_a_data_parallel_trial_that_loses_a_worker_node_resumes_from_its_epoch_checkpoint(
    s3: S3, cluster: object, prepared_phantom: Callable[[str], Path], tmp_path: Path
) -> None:
    started = time.monotonic()
    _node(cluster, tmp_path, "n1", cpus=2, env=SLOW_MACHINE)  # the trial (0.1 CPU) and one worker
    run = location(s3.uri("lab/runs/f3"))
    env = {**os.environ, "MEDZOO_HOME": str(tmp_path / "driver")}
    args = _sweep_args(
        prepared_phantom("figshare-brain"),
        run.uri,
        cluster.address,
        s3.uri("lab"),
        tiny_space(tmp_path, epochs=4, data_parallel=True),
    )
    args[args.index("--samples") + 1] = "1"
    proc = _start_driver([*args, "--workers-per-trial", "2", "--test-top-k", "0"], env, tmp_path)
    try:
        # Tune logs a trial's params.json once its actor runs, so the trial holds 0.1 of n1's CPUs by then
        _wait(proc, lambda: _started(run), "the trial's start")
        doomed = _node(cluster, tmp_path, "n2", cpus=1, env=SLOW_MACHINE)  # the other worker can only go here
        _wait(proc, lambda: _train_checkpoints(run) >= 2, "two Ray Train checkpoints in storage", 480)
        lost_at = time.monotonic()
        _node(cluster, tmp_path, "n3", cpus=1, env=SLOW_MACHINE)  # where the lost worker goes on
        cluster.remove_node(doomed, allow_graceful=False)
        log = proc.communicate(timeout=400)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, log[-3000:]
    (row,) = _finished(run).to_dict("records")
    assert row["status"] == "TERMINATED" and row["epochs"] == 4, row
    history = json.loads((run / "trials" / row["trial_id"] / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4], history  # none lost, none repeated
    assert _failures(run, row["trial_id"]) == 1  # the worker's node: one failure, recovered
    reported = [int(x["epoch"]) for x in _results(run)[row["trial_id"]] if "epoch" in x]
    redone = len(reported) - len(set(reported))
    print(
        f"data-parallel trial after losing a worker node: epochs reported {reported}, redone {redone}, "
        f"recovery {time.monotonic() - lost_at:.0f} s, wall {time.monotonic() - started:.0f} s"
    )
    assert redone <= 1  # at most the epoch that was running when the node went


def test_unreadable_data_ends_a_data_parallel_trial_without_retries(
    s3: S3, cluster: object, prepared_phantom: Callable[[str], Path], tmp_path: Path
) -> None:
    import pandas as pd

    _node(cluster, tmp_path, "n1", cpus=3, env=SLOW_MACHINE)
    prepared = tmp_path / "broken"
    shutil.copytree(prepared_phantom("figshare-brain"), prepared)
    manifest = pd.read_parquet(prepared / "manifest.parquet")
    train = manifest["split"] == "train"
    victims = [Path(p).name for p in manifest[train]["path"]]
    broken = b"\x89PNG truncated"  # a file that was broken when the set was prepared: its sha256 matches
    for path in manifest[train]["path"]:
        (prepared / path).write_bytes(broken)
    manifest.loc[train, "sha256"] = hashlib.sha256(broken).hexdigest()
    manifest.to_parquet(prepared / "manifest.parquet", index=False)
    run = location(s3.uri("lab/runs/f4"))
    env = {**os.environ, "MEDZOO_HOME": str(tmp_path / "driver")}
    space = tiny_space(tmp_path, epochs=2, data_parallel=True)
    args = _sweep_args(prepared, run.uri, cluster.address, s3.uri("lab"), space)
    args[args.index("--samples") + 1] = "1"
    done = medzoo_cli([*args, "--workers-per-trial", "2", "--max-failures", "2"], env=env, timeout=600)
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    (row,) = _finished(run).to_dict("records")
    assert row["status"] == "ERROR" and any(v in row["error"] for v in victims), row["error"]
    assert _failures(run, row["trial_id"]) == 1  # not retried: reading the same bytes fails the same way
