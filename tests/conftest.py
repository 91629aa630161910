"""Shared fixtures: isolated caches, no network, small phantoms prepared once per session."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# One thread per op: the suite runs on 2 cores and Ray workers add their own.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own MEDZOO_HOME and Hugging Face cache: no test sees a user's files."""
    home = tmp_path_factory.mktemp("medzoo-home")
    monkeypatch.setenv("MEDZOO_HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


#: phantom sizes used across the suite: small enough to prepare in seconds, big enough to split
PHANTOM_PATIENTS = {
    "figshare-brain": 24,
    "all-leukemia": 24,
    "cbis-ddsm-mass": 24,
    "brats19-grade": 12,
    "chestxray14": 24,
    "kaggle-brain-mri": 12,
}


@pytest.fixture(scope="session")
def phantom_raw(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``phantom_raw(id)`` -> a raw phantom download in the native layout (made once per session)."""
    cache: dict[str, Path] = {}

    def make(dataset_id: str) -> Path:
        if dataset_id not in cache:
            from medzoo import datasets

            out = tmp_path_factory.mktemp(f"raw-{dataset_id}") / "raw"
            datasets.synthesize(dataset_id, out, patients=PHANTOM_PATIENTS[dataset_id], seed=0)
            cache[dataset_id] = out
        return cache[dataset_id]

    return make


@pytest.fixture(scope="session")
def prepared_phantom(
    tmp_path_factory: pytest.TempPathFactory, phantom_raw: Callable[[str], Path]
) -> Callable[[str], Path]:
    """``prepared_phantom(id)`` -> a prepared phantom (default split protocol, seed 0), made once."""
    cache: dict[str, Path] = {}

    def make(dataset_id: str) -> Path:
        if dataset_id not in cache:
            from medzoo import datasets

            out = tmp_path_factory.mktemp(f"prepared-{dataset_id}") / "prepared"
            datasets.prepare(dataset_id, phantom_raw(dataset_id), out, seed=0, progress=False)
            cache[dataset_id] = out
        return cache[dataset_id]

    return make


# --- zoo fixtures (tiny_run, tiny_zoo) -------------------------------------------------------------

#: the two configurations of the stand-in run: tiny_cnn at 64 px, differing in learning rate
TINY_RUN_CONFIGS = (
    {
        "family": "tiny_cnn",
        "image_size": 64,
        "epochs": 14,
        "lr": 3e-3,
        "batch_size": 16,
        "augment": "none",
        "seed": 0,
    },
    {
        "family": "tiny_cnn",
        "image_size": 64,
        "epochs": 3,
        "lr": 1e-4,
        "batch_size": 16,
        "augment": "none",
        "seed": 1,
    },
)


def build_tiny_run(prepared: Path, out: Path, *, configs=TINY_RUN_CONFIGS, test_top_k: int = 2) -> Path:
    """A run folder (docs/contracts.md "Runs") made with medzoo.search's own trial code, without Ray.

    Stand-in for ``medzoo.search.run`` (which needs a Ray cluster and more time than the zoo's test budget):
    each config is trained by ``search.train_trial`` into ``trials/<id>``, the best ``test_top_k`` by
    validation are evaluated by ``search.evaluate_test``, and run.json / results.parquet / best.json are
    written the way the sweep writes them.
    """
    import datetime as dt
    import json
    import time

    import pandas as pd
    import ray

    from medzoo.formats.run import BestTrial, Interval, RunBudget, RunInfo, RunResources, TrialRecord
    from medzoo.search.evaluation import evaluate_test
    from medzoo.search.trial import DataInfo, train_trial

    data = DataInfo.read(prepared)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    rows = []
    for k, cfg in enumerate(configs):
        trial_id = f"t{k:04d}"
        t0 = time.perf_counter()
        result = train_trial(cfg, prepared=prepared, out_dir=out / "trials" / trial_id)
        rows.append(
            {
                "trial_id": trial_id,
                "status": "TERMINATED",
                "error": None,
                **{f"config.{key}": v for key, v in cfg.items()},
                **{key: v for key, v in result.items() if key.startswith("val_")},
                "params": result.get("params"),
                "gmacs": result.get("gmacs"),
                "epochs": result.get("epochs"),
                "compute_s": time.perf_counter() - t0,
            }
        )
    primary = data.primary_metric
    order = sorted(rows, key=lambda r: -(r.get(f"val_{primary}") or 0.0))
    for r in order[:test_top_k]:
        test = evaluate_test(
            out / "trials" / r["trial_id"], prepared=prepared, primary_metric=primary, resamples=200
        )
        m = test["metrics"][primary]
        r.update(
            {
                f"test_{primary}": m["value"],
                f"test_{primary}_ci_low": m["ci_low"],
                f"test_{primary}_ci_high": m["ci_high"],
            }
        )
    pd.DataFrame(rows).to_parquet(out / "results.parquet")
    best = order[0]
    best_dir = out / "trials" / best["trial_id"]
    test = json.loads((best_dir / "test_metrics.json").read_text())["metrics"]
    BestTrial(
        trial_id=best["trial_id"],
        config=TrialRecord.read(best_dir),
        val={key: float(v) for key, v in best.items() if key.startswith("val_") and v is not None},
        test={name: Interval(**m) for name, m in test.items()},
        params=best.get("params"),
        gmacs=best.get("gmacs"),
    ).write(out)
    RunInfo(
        dataset=data.dataset,
        prepared=str(Path(prepared).resolve()),
        space_file="tests/conftest.py:TINY_RUN_CONFIGS",
        space={"lr": [c["lr"] for c in configs]},
        scheduler="fifo",
        search="random",
        samples=len(configs),
        budget=RunBudget(samples=len(configs), epochs=max(c["epochs"] for c in configs)),
        resources=RunResources(cpus_per_trial=1),
        test_top_k=test_top_k,
        resamples=200,
        smoke=True,
        started=started,
        finished=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        primary_metric=primary,
        ray_version=ray.__version__,
    ).write(out)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, prepared_phantom: Callable[[str], Path]) -> Path:
    """A finished run folder on the figshare-brain phantom: two tiny_cnn trials (t0000 trained 14 epochs,
    t0001 3 epochs at a tiny lr), both test-evaluated; the Runs layout of docs/contracts.md. Read-only."""
    import torch

    torch.set_num_threads(1)
    return build_tiny_run(prepared_phantom("figshare-brain"), tmp_path_factory.mktemp("tiny-run") / "run")


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    """A zoo folder with ``figshare-brain/tiny_cnn`` (r1: the run's best trial) and ``figshare-brain/tiny_cnn-2``
    (r1: the second trial), published by ``medzoo.zoo.publish(tiny_run, top=2)``. Read-only: copy it
    (``shutil.copytree``) before publishing more into it."""
    from medzoo.zoo.entries.publishing import publish

    zoo = tmp_path_factory.mktemp("tiny-zoo") / "zoo"
    publish(tiny_run, top=2, zoo=zoo, gradcam_images=40, faithfulness_images=4)
    return zoo


# --- a real S3 server on 127.0.0.1 (moto's standalone server speaks the S3 HTTP protocol) ---------


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The endpoint URL of a moto S3 server on 127.0.0.1, started once per session and stopped after."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the S3 server, with the standard ``AWS_*`` variables pointing at it.

    Returns ``s3://<bucket>``. Clients (boto3, pyarrow, Ray) reach it exactly as they reach S3.
    """
    import uuid

    import boto3

    env = {
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": "medzoo-test",
        "AWS_SECRET_ACCESS_KEY": "medzoo-test-secret",
        "AWS_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    bucket = f"medzoo-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}"


# --- a valid run.json for tests of the run folder's readers (search and the hostile corpus) ---------

#: a valid run.json (medzoo.formats.run.RunInfo)
RUN_JSON = {
    "dataset": "figshare-brain",
    "prepared": "/data/brain",
    "recipe": "brain-effnet",
    "space_file": None,
    "space": {"lr": {"type": "loguniform", "low": 1e-4, "high": 1e-2}},
    "point": {"lr": 1e-3},
    "scheduler": "asha",
    "search": "optuna",
    "objectives": ["val_metric", "gmacs"],
    "samples": 4,
    "budget": {"time_budget_s": None, "samples": 4, "epochs": 2, "limit": {"train": 48}},
    "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0, "workers_per_trial": 1},
    "max_failures": 2,
    "test_top_k": 1,
    "seed": 0,
    "smoke": True,
    "started": "2026-11-29T23:00:00+00:00",
    "finished": None,
    "primary_metric": "accuracy",
    "mode": "max",
    "ray_version": "2.60.0",
}


@pytest.fixture()
def run_json() -> dict:
    return json.loads(json.dumps(RUN_JSON))
