"""Shared fixtures: isolated caches, no network, small phantoms prepared once per session."""

from __future__ import annotations

import os
from collections.abc import Callable
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
