"""Faults on a multi-node Ray with S3 storage: a node lost mid-sweep, the driver killed and resumed elsewhere."""

from __future__ import annotations

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


def _node(cluster: object, tmp_path: Path, name: str, cpus: int) -> object:
    aws = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    node = cluster.add_node(num_cpus=cpus, env_vars={**aws, "MEDZOO_HOME": str(tmp_path / name)})
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
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
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


@pytest.mark.xfail(
    reason="a driver SIGKILLed while Tune uploads its state can leave a state file that the run's "
    "signature manifest does not cover yet; resume then refuses it (signing race, medzoo.search.signing)",
    strict=False,
)
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
    frame = _finished(run)
    assert len(frame) == 2 and set(frame["status"]) == {"TERMINATED"}
    assert (run / "best.json").is_file()
    epochs = _epochs(run)
    print("epochs recorded per trial after the driver was killed and resumed:", epochs)
