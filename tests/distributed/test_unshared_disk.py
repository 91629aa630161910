"""A driver whose disk the nodes do not share: its own mount namespace with a private tmpfs.

The driver runs under ``unshare -m`` with a tmpfs over its working folder (its run folder, its
MEDZOO_HOME, its prepared set); the Ray head and worker run outside it and cannot see those files,
as on a cluster whose nodes do not mount the driver's disk. With ``--storage s3://...`` the sweep
succeeds; without it, it fails before any trial starts with the fix.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from distparts import S3, RayStartCluster, cache_records

from medzoo.storage import location

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def _unshare_refused() -> str | None:
    if not sys.platform.startswith("linux"):
        return "mount namespaces are Linux-only"
    if shutil.which("unshare") is None:
        return "util-linux's unshare is not installed"
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"unshare -m with a tmpfs mount is not permitted here: {probe.stderr.strip()}"
    return None


@pytest.fixture
def outside(s3: S3, tmp_path: Path) -> Iterator[tuple[RayStartCluster, list[Path]]]:
    reason = _unshare_refused()
    if reason:
        pytest.skip(reason)
    homes = [tmp_path / "node-head", tmp_path / "node-worker"]
    cluster = RayStartCluster(homes=homes, env=dict(os.environ))
    try:
        yield cluster, homes
    finally:
        cluster.stop()


def _driver(
    cluster: RayStartCluster, workdir: Path, prepared: Path, extra: list[str]
) -> subprocess.CompletedProcess:
    """Run ``medzoo sweep`` in a private mount namespace whose tmpfs hides ``workdir`` from the nodes."""
    workdir.mkdir()
    sweep = [sys.executable, "-m", "medzoo", "sweep", str(workdir / "prepared"), "--recipe", "brain-effnet"]
    sweep += [
        "--smoke",
        "--samples",
        "2",
        "--time-budget-s",
        "90",
        "--test-top-k",
        "1",
        "--scheduler",
        "fifo",
    ]
    sweep += ["--address", cluster.address, *extra]
    script = " && ".join(
        [
            f"mount -t tmpfs tmpfs {shlex.quote(str(workdir))}",
            f"cp -r {shlex.quote(str(prepared))} {shlex.quote(str(workdir / 'prepared'))}",
            f"cd {shlex.quote(str(workdir))}",
            "exec " + " ".join(shlex.quote(a) for a in sweep),
        ]
    )
    env = {**cluster.env, "MEDZOO_HOME": str(workdir / "home")}
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
    )


def test_without_shared_storage_the_sweep_fails_before_any_trial_with_the_fix(
    outside: tuple[RayStartCluster, list[Path]], prepared_phantom: Callable[[str], Path], tmp_path: Path
) -> None:
    cluster, homes = outside
    done = _driver(cluster, tmp_path / "driver", prepared_phantom("figshare-brain"), [])
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith(("error:", "fix:"))]
    assert errors and "do not see" in errors[0], done.stderr[-2000:]
    assert errors[1] == "fix: pass --storage s3://bucket/prefix or a path every node mounts"
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "driver" / "home").exists()  # the tmpfs is gone with the namespace
    print("\n".join(errors))


def test_with_s3_storage_the_sweep_succeeds_and_each_node_downloads_once(
    s3: S3,
    outside: tuple[RayStartCluster, list[Path]],
    prepared_phantom: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    cluster, homes = outside
    extra = ["--storage", s3.uri("lab"), "--out", s3.uri("lab/runs/u1")]
    done = _driver(cluster, tmp_path / "driver", prepared_phantom("figshare-brain"), extra)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = location(s3.uri("lab/runs/u1"))
    assert (run / "best.json").is_file() and (run / "results.parquet").is_file()
    records = cache_records(homes)
    assert any(records.values()) and all(len(r) <= 1 for r in records.values())
    print("downloaded per node:", {n: [r["bytes"] for r in rs] for n, rs in records.items()})
