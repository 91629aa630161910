"""SLURM for real: `medzoo cluster up slurm` submits the shipped script to a one-node slurmctld + slurmd,
the script starts Ray inside the allocation and runs a smoke sweep against it, then publishes the run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from local_slurm import LocalSlurm, local_slurm, missing_tools

pytestmark = [pytest.mark.slow, pytest.mark.ray]

VENV_BIN = Path(sys.executable).parent

#: run inside the job after the sweep: which drivers the job's Ray head has seen (from its GCS)
JOBS_PROBE = (
    "import json, os, ray; ray.init(address=os.environ['RAY_ADDRESS'], log_to_driver=False); "
    "print('MEDZOO-PROBE', json.dumps({'cpus': ray.cluster_resources().get('CPU'), "
    "'drivers': [str(j.get('EntryPoint') or j.get('Entrypoint') or '') for j in ray._private.state.jobs()]}))"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def slurm(tmp_path: Path) -> Iterator[LocalSlurm]:
    missing = missing_tools()
    if missing:
        pytest.skip(
            f"SLURM is not installed here (missing {', '.join(missing)}); .ci/run installs slurm-wlm and munge"
        )
    if os.geteuid() != 0:
        pytest.skip("the one-node SLURM runs slurmd as root (SlurmUser=root); run as root, as CI does")
    with local_slurm(tmp_path / "slurm", cpus=2, memory_mb=1024) as cluster:
        yield cluster


def test_cluster_up_slurm_runs_a_sweep_inside_the_allocation(
    slurm: LocalSlurm, tmp_path: Path, prepared_phantom: Callable[[str], Path]
) -> None:
    prepared = prepared_phantom("figshare-brain")
    run, zoo = tmp_path / "run", tmp_path / "zoo"
    sweep = (
        f"medzoo sweep {prepared} --recipe brain-effnet --smoke --samples 1 --test-top-k 1 "
        f'--cpus-per-trial 1 --max-failures 0 --out {run} --address "$RAY_ADDRESS" && '
        f"medzoo publish {run} --top 1 --zoo {zoo}"
    )
    env = {
        **slurm.env,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "MEDZOO_RAY_PORT": str(_free_port()),
        "MEDZOO_RAY_DASHBOARD_PORT": str(_free_port()),
    }
    started = time.monotonic()
    out = subprocess.run(
        [
            sys.executable, "-m", "medzoo", "cluster", "up", "slurm", "--wait",
            "--sbatch-opt=--nodes=1", "--sbatch-opt=--cpus-per-task=2", "--sbatch-opt=--gpus-per-node=0",
            "--sbatch-opt=--time=10", f"--sbatch-opt=--output={tmp_path / 'job-%j.log'}",
            f"--sbatch-opt=--chdir={tmp_path}",
            "--", "bash", "-c", f"{sweep} && python -c \"{JOBS_PROBE}\"",
        ],
        env=env, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    wall = time.monotonic() - started
    logs = "\n".join(p.read_text(errors="replace") for p in sorted(tmp_path.glob("job-*.log")))
    assert out.returncode == 0, (
        f"{out.stdout}\n{out.stderr}\n--- job log ---\n{logs[-6000:]}\n{slurm.log('slurmd')}"
    )
    print(f"SLURM smoke sweep: {wall:.0f}s wall from `medzoo cluster up slurm` to the job's end")

    # the script read the allocation (2 CPUs, no GPUs) and started the head inside it
    assert "(2 CPUs, 0 GPUs per node, 1 nodes)" in logs
    # the sweep ran as a driver of that head (not a Ray of its own) and finished with a result
    (probe_line,) = [line for line in logs.splitlines() if line.startswith("MEDZOO-PROBE {")]
    probe = json.loads(probe_line.removeprefix("MEDZOO-PROBE "))
    assert probe["cpus"] == 2
    assert any("medzoo sweep" in d and str(run) in d for d in probe["drivers"]), probe
    assert (run / "run.json").is_file() and (run / "results.parquet").is_file()
    import pandas as pd

    results = pd.read_parquet(run / "results.parquet")
    assert len(results) == 1 and results["status"].iloc[0] == "TERMINATED", results.to_dict("records")
    # and the run was published from inside the job: weights (safetensors) and a model card
    weights = list(zoo.rglob("model.safetensors"))
    assert len(weights) == 1 and (weights[0].parent / "README.md").is_file()
