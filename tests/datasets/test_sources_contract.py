"""The contract every registered dataset source keeps, checked for all of them (as the families are).

A source is one package under ``medzoo.datasets.sources`` holding its spec and
reader and a ``phantom`` module; its phantom is written in the native layout,
read back by its own reader without a problem, prepared, and deterministic per
seed. A new source that breaks any of this fails here before anyone trains on it.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from medzoo import datasets
from medzoo.formats.prepared import read_info, read_manifest

IDS = datasets.ids()


def _small(dataset_id: str) -> int:
    """The smallest phantom that still puts every split to work: fast, and every code path runs."""
    return max(datasets.adapter(dataset_id).min_phantom_patients, 4)


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_every_source_is_registered_from_its_own_package() -> None:
    assert set(IDS) == {
        "figshare-brain",
        "all-leukemia",
        "cbis-ddsm-mass",
        "brats19-grade",
        "chestxray14",
        "kaggle-brain-mri",
    }
    for dataset_id in IDS:
        module = type(datasets.adapter(dataset_id)).__module__
        assert module.startswith("medzoo.datasets.sources."), (dataset_id, module)
        phantom = importlib.import_module(f"{module}.phantom")
        assert callable(phantom.write_phantom), dataset_id


@pytest.mark.parametrize("dataset_id", IDS)
def test_phantom_is_read_back_by_its_own_reader_and_prepared(dataset_id: str, tmp_path: Path) -> None:
    spec = datasets.get(dataset_id)
    raw = datasets.synthesize(dataset_id, tmp_path / "raw", patients=_small(dataset_id), seed=3)
    report = datasets.check(dataset_id, raw)
    assert report.usable and report.records
    # native layout: the reader recognises everything; a tiny phantom may only lack a class, and a
    # source may leave items out on purpose (kaggle's no-tumour images, counted in report.excluded)
    on_purpose = [f"{n} no-tumour image(s) left out" for n in report.excluded.values()]
    layout_problems = [
        str(p)
        for p in report.problems
        if "has no items" not in p.message and not any(p.message.startswith(x) for x in on_purpose)
    ]
    assert layout_problems == [], layout_problems
    out = datasets.prepare(dataset_id, raw, tmp_path / "prepared", progress=False)
    info = read_info(out)
    manifest = read_manifest(out)
    assert info.id == dataset_id and info.classes == spec.classes and info.data_kind == "phantom"
    assert info.leakage_audit.passed and info.images == len(manifest) > 0
    assert set(manifest["split"]) <= {"train", "val", "test"}
    assert all((out / rel).is_file() for rel in manifest["path"])


def _synthesize_elsewhere(dataset_id: str, out: Path, *, patients: int, seed: int) -> Path:
    """The phantom written by another Python process with another string-hash seed: nothing may depend
    on set or dict order of strings (PYTHONHASHSEED) or on anything else of the process."""
    code = f"from medzoo import datasets; datasets.synthesize({dataset_id!r}, {str(out)!r}, patients={patients}, seed={seed})"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300, capture_output=True)
    return out


@pytest.mark.parametrize("dataset_id", IDS)
def test_phantom_is_deterministic_per_seed(dataset_id: str, tmp_path: Path) -> None:
    n = _small(dataset_id)
    a = _tree(datasets.synthesize(dataset_id, tmp_path / "a", patients=n, seed=11))
    b = _tree(_synthesize_elsewhere(dataset_id, tmp_path / "b", patients=n, seed=11))
    c = _tree(datasets.synthesize(dataset_id, tmp_path / "c", patients=n, seed=12))
    assert a == b, "the same seed must write the same bytes, in any process"
    data_files = [k for k in a if not k.endswith(".medzoo-phantom.json")]
    assert any(a[k] != c.get(k) for k in data_files), "another seed must write other data"
