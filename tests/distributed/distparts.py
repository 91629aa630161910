"""Helpers of the distributed tests (importable by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class S3:
    endpoint: str
    bucket: str

    def uri(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"


def make_prepared(root: Path, *, images: int = 6, dataset: str = "figshare-brain") -> Path:
    """A minimal prepared set in the contract's layout: manifest with sha256 per image, dataset.json."""
    import pandas as pd

    root.mkdir(parents=True)
    rows = []
    for i in range(images):
        data = hashlib.sha256(f"image {i}".encode()).digest() * 64  # 2 KiB of distinct bytes
        rel = f"images/{i % 2}/img{i}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        rows.append(
            {"path": rel, "label": i % 2, "sha256": hashlib.sha256(data).hexdigest(), "mask_path": ""}
        )
    pd.DataFrame(rows).to_parquet(root / "manifest.parquet", index=False)
    (root / "dataset.json").write_text(json.dumps(dataset_info(id=dataset)))
    return root


def dataset_info(**changes: object) -> dict:
    """A valid ``dataset.json`` (a real prepared phantom's, from dataset_template.json) with ``changes``."""
    template = json.loads((Path(__file__).parent / "dataset_template.json").read_text())
    return {**template, **changes}


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def medzoo_cli(args: list[str], *, env: dict[str, str], timeout: float, cwd: Path | None = None):
    """``python -m medzoo ARGS`` as a user runs it (a separate driver process)."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "medzoo", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cache_records(homes: list[Path]) -> dict[str, list[dict]]:
    """Per node home: the datacache records (what the node downloaded, once per prepared set)."""
    return {
        h.name: [json.loads(p.read_text()) for p in sorted(h.glob("cache/datasets/*/.medzoo-cache.json"))]
        for h in homes
    }


TOKEN = "medzoo-test-token-0123456789abcdef0123456789abcdef"


def ray_cli() -> str:
    import sys

    return str(Path(sys.executable).with_name("ray"))


class RayStartCluster:
    """A head and workers started with ``ray start --block`` (outside any namespace the driver uses).

    Each node is its own process session with its own MEDZOO_HOME, killed by its id at the end;
    Ray's temp dir is private (and short: socket paths are length-limited); token auth is on.
    """

    def __init__(self, *, homes: list[Path], env: dict[str, str]) -> None:
        import shutil
        import socket
        import subprocess
        import tempfile
        import time

        self.tmp = tempfile.mkdtemp(prefix="mzc", dir="/tmp")
        self.env = {**env, "RAY_TMPDIR": self.tmp, "RAY_USAGE_STATS_ENABLED": "0"}
        self.env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=TOKEN)
        self.procs: list[subprocess.Popen[bytes]] = []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        common = ["--num-cpus=1", "--disable-usage-stats", "--block"]
        try:
            self._start(
                [ray_cli(), "start", "--head", f"--port={port}", "--include-dashboard=false", *common],
                homes[0],
            )
            recorded = Path(self.tmp) / "ray" / "ray_current_cluster"
            deadline = time.monotonic() + 90
            while not recorded.is_file() or not recorded.read_text().strip():
                assert time.monotonic() < deadline and self.procs[0].poll() is None, "ray start --head failed"
                time.sleep(0.5)
            self.address = recorded.read_text().strip()
            for home in homes[1:]:
                self._start([ray_cli(), "start", f"--address={self.address}", *common], home)
            self._wait_for(len(homes), deadline)
        except BaseException:
            self.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def _start(self, cmd: list[str], home: Path) -> None:
        import subprocess

        env = {**self.env, "MEDZOO_HOME": str(home)}
        self.procs.append(
            subprocess.Popen(
                cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )

    def _wait_for(self, nodes: int, deadline: float) -> None:
        import subprocess
        import time

        while True:
            status = subprocess.run(
                [ray_cli(), "status", f"--address={self.address}"],
                env=self.env,
                capture_output=True,
                text=True,
            ).stdout
            if status.count(" node_") >= nodes:
                return
            assert time.monotonic() < deadline, f"only {status.count(' node_')} of {nodes} nodes came up"
            time.sleep(1)

    def stop(self) -> None:
        import os
        import shutil
        import signal

        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def tiny_space(folder: Path, *, epochs: int = 4, data_parallel: bool = False) -> Path:
    """A space file on brain-effnet whose smoke scale trains in seconds (tiny_cnn, 32 px, ~100 images).

    ``data_parallel``: class balance by loss weights (a balancing sampler cannot be split across workers).
    """
    path = folder / f"tiny-{epochs}{'-dp' if data_parallel else ''}.yaml"
    balance = ", balance: loss_weights" if data_parallel else ""
    path.write_text(
        "base: brain-effnet\n"
        "smoke:\n"
        "  set: {family: tiny_cnn, pretrained: false, freeze: 0, image_size: 32, "
        f"epochs: {epochs}, batch_size: 16, early_stop_patience: 10, lr: 3.0e-3{balance}}}\n"
        "  space:\n"
        "    lr: {type: loguniform, low: 1.0e-3, high: 1.0e-2}\n"
        "  limit: {train: 96, val: 48, test: 48}\n"
    )
    return path


def private_ray_tmpdir(monkeypatch) -> str:
    """A short private Ray temp dir, so a test's cluster never rewrites /tmp/ray's current-cluster file."""
    import tempfile

    tmp = tempfile.mkdtemp(prefix="mzr", dir="/tmp")
    monkeypatch.setenv("RAY_TMPDIR", tmp)
    return tmp
