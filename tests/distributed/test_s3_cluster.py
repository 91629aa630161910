"""Sweeps on a multi-node Ray whose storage is an S3 bucket (moto's S3 server on 127.0.0.1).

Each node has its own MEDZOO_HOME (its own disk cache), so what each node downloaded is measured.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from distparts import S3, cache_records, medzoo_cli, private_ray_tmpdir, tiny_space, tree_bytes

from medzoo.storage import location

pytestmark = [pytest.mark.slow, pytest.mark.ray]


@pytest.fixture
def nodes(tmp_path: Path, s3: S3, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[object, list[Path]]]:
    """A head and one worker node (1 CPU each), each with its own MEDZOO_HOME; AWS_* from the s3 fixture."""
    import shutil

    from ray.cluster_utils import Cluster

    ray_tmp = private_ray_tmpdir(monkeypatch)

    homes = [tmp_path / "node-head", tmp_path / "node-worker"]
    aws = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "include_dashboard": False,
            "env_vars": {"MEDZOO_HOME": str(homes[0]), **aws},
        },
    )
    try:
        cluster.add_node(num_cpus=1, env_vars={"MEDZOO_HOME": str(homes[1]), **aws})
        cluster.wait_for_nodes()
        yield cluster, homes
    finally:
        cluster.shutdown()
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_a_sweep_with_s3_storage_on_two_nodes_is_readable_from_the_bucket(
    s3: S3, nodes: tuple[object, list[Path]], prepared_phantom: Callable[[str], Path], tmp_path: Path
) -> None:
    import pandas as pd

    cluster, homes = nodes
    prepared = prepared_phantom("figshare-brain")
    env = {**os.environ, "MEDZOO_HOME": str(tmp_path / "driver")}
    args = ["sweep", str(prepared), "--space", str(tiny_space(tmp_path)), "--smoke", "--samples", "2"]
    args += ["--test-top-k", "1", "--scheduler", "fifo"]
    args += ["--storage", s3.uri("lab"), "--out", s3.uri("lab/runs/r1"), "--address", cluster.address]
    done = medzoo_cli(args, env=env, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    run = location(s3.uri("lab/runs/r1"))
    for name in ("run.json", "results.parquet", "best.json"):
        assert (run / name).is_file(), f"{name} is not in the bucket"
    frame = pd.read_parquet(io.BytesIO((run / "results.parquet").read_bytes()))
    assert len(frame) == 2 and set(frame["status"]) == {"TERMINATED"}
    best = json.loads((run / "best.json").read_text())
    assert best["test"], "the best trial was not evaluated on the test split"
    assert any(rel.endswith("model.safetensors") for rel, _ in (run / "tune").walk())  # Tune's checkpoints

    datasets = location(s3.uri("lab/datasets")).iterdir()
    assert len(datasets) == 1 and datasets[0].name.startswith("figshare-brain-")
    records = cache_records(homes)
    size = tree_bytes(prepared)
    downloads = [r for node in records.values() for r in node]
    assert downloads, "no node materialised the prepared set"
    assert all(len(node) <= 1 for node in records.values())  # once per node, never per trial or epoch
    assert all(r["bytes"] == size for r in downloads)
    print(
        f"prepared set {size} bytes; downloaded per node:",
        {n: [r["bytes"] for r in rs] for n, rs in records.items()},
    )
