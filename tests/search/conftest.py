"""One Ray per test module (start-up costs seconds; a module's Ray tests share it)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A local Ray with 4 logical CPUs (the data-parallel test needs 1 driver + 2 workers); yields its address."""
    from medzoo.cluster.connect import connect

    conn = connect(num_cpus=4)
    yield conn.address
    conn.close()


#: a valid run.json (medzoo.formats.run.RunInfo) for tests of the run folder's readers
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
