"""The leakage audit (a forced leak fails and nothing is written) and the prepared layout contract."""

from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd
import pytest

from medzoo import datasets
from medzoo.datasets.audit import audit, require_passed
from medzoo.errors import ConfigError, LeakageError

prepare_module = importlib.import_module("medzoo.datasets.prepare")  # the package attribute is the function


def _manifest(**overrides: list) -> pd.DataFrame:
    base = {
        "patient_id": ["a", "a", "b", "c"],
        "sha256": ["1", "2", "3", "4"],
        "split": ["train", "train", "val", "test"],
        "fold": [-1, -1, -1, -1],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def test_audit_passes_clean_and_fails_on_patient_or_image_leak() -> None:
    assert audit(_manifest(), protocol="patient")["passed"]
    leak = audit(_manifest(split=["train", "test", "val", "test"]), protocol="patient")
    assert not leak["passed"] and leak["patients_in_two_splits"] == 1
    with pytest.raises(LeakageError, match="1 patient\\(s\\) in two splits, e.g. a"):
        require_passed(leak, where="x")
    dup = audit(_manifest(sha256=["1", "2", "1", "4"]), protocol="patient")
    assert not dup["passed"] and dup["identical_images_in_two_splits"] == 1
    # image-level protocol: shared patients are reported, not enforced; identical images still fail
    img = audit(_manifest(split=["train", "test", "val", "test"]), protocol="image")
    assert img["passed"] and img["patients_in_two_splits"] == 1 and not img["patient_check_enforced"]
    assert not audit(_manifest(sha256=["1", "2", "1", "4"]), protocol="image")["passed"]
    folds = audit(_manifest(split=["train", "val", "train", "test"], fold=[1, 0, 1, -1]), protocol="patient")
    assert not folds["passed"] and folds["patients_in_two_folds"] == 1


def test_forced_leak_stops_prepare_and_writes_nothing(
    phantom_raw, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = prepare_module.assign_splits

    def leaky(table: pd.DataFrame, **kw: object) -> pd.DataFrame:
        out = real(table, **kw)
        first = out["patient_id"].iloc[0]
        rows = out.index[out["patient_id"] == first]
        out.loc[rows[0], "split"], out.loc[rows[-1], "split"] = "train", "test"
        return out

    monkeypatch.setattr(prepare_module, "assign_splits", leaky)
    out = tmp_path / "prepared"
    with pytest.raises(LeakageError, match="patient\\(s\\) in two splits") as err:
        datasets.prepare(
            "figshare-brain",
            phantom_raw("figshare-brain"),
            out,
            split="patient",
            image_size=32,
            progress=False,
        )
    assert "Nothing was written" in err.value.message and err.value.fix
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_prepared_layout_contract(prepared_phantom) -> None:
    out = prepared_phantom("figshare-brain")
    m = datasets.read_manifest(out)
    assert tuple(m.columns) == (
        "path",
        "label",
        "labels",
        "patient_id",
        "split",
        "fold",
        "source",
        "mask_path",
        "sha256",
    )
    info = datasets.read_info(out)
    for key in (
        "id",
        "task",
        "classes",
        "modality",
        "preprocessing",
        "split_protocol",
        "seed",
        "counts",
        "leakage_audit",
    ):
        assert key in info
    assert info["preprocessing"]["params"]["threshold"] == 50 and info["preprocessing"]["steps"]
    assert sum(info["counts"][s]["total"] for s in ("train", "val", "test")) == len(m)
    import hashlib

    row = m.iloc[0]
    assert hashlib.sha256((out / row["path"]).read_bytes()).hexdigest() == row["sha256"]
    assert not any(p.name.startswith(".") and "partial" in p.name for p in out.parent.iterdir())


def test_params_overrides_and_rejections(phantom_raw, tmp_path: Path) -> None:
    raw = phantom_raw("kaggle-brain-mri")
    with pytest.raises(ConfigError, match="unknown preprocessing parameter\\(s\\) \\['treshold'\\]"):
        datasets.prepare("kaggle-brain-mri", raw, tmp_path / "a", params={"treshold": 40}, progress=False)
    with pytest.raises(ConfigError, match="16 <= image_size <= 4096 must hold"):
        datasets.prepare("kaggle-brain-mri", raw, tmp_path / "a", image_size=8, progress=False)
    with pytest.raises(ConfigError, match="folds >= 2"):
        datasets.prepare("figshare-brain", raw, tmp_path / "a", split="patient", folds=1, progress=False)
    out = datasets.prepare(
        "kaggle-brain-mri", raw, tmp_path / "b", params={"roi_crop": False}, image_size=32, progress=False
    )
    info = datasets.read_info(out)
    assert info["preprocessing"]["params"]["roi_crop"] is False and info["image_size"] == 32
    import cv2

    assert cv2.imread(str(out / datasets.read_manifest(out)["path"].iloc[0])).shape[:2] == (32, 32)
    with pytest.raises(ConfigError, match="must not exist yet"):
        datasets.prepare("kaggle-brain-mri", raw, out, progress=False)


def test_folds_and_fallback_without_cvind(phantom_raw, tmp_path: Path) -> None:
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree(phantom_raw("figshare-brain"), raw)
    (raw / "cvind.mat").unlink()
    with pytest.raises(ConfigError, match="lacks them"):
        datasets.prepare("figshare-brain", raw, tmp_path / "o", split="official", progress=False)
    out = datasets.prepare(
        "figshare-brain", raw, tmp_path / "p", folds=3, seed=1, image_size=32, progress=False
    )
    info = datasets.read_info(out)
    assert info["split_protocol"] == "patient" and info["folds"] == 3
    assert any("used a patient-level split" in n for n in info["notes"])
    assert info["leakage_audit"]["passed"]


def test_image_split_reproduces_studies_with_a_loud_warning(phantom_raw, tmp_path: Path) -> None:
    out = datasets.prepare(
        "figshare-brain",
        phantom_raw("figshare-brain"),
        tmp_path / "img",
        split="image",
        seed=3,
        image_size=32,
        progress=False,
    )
    info = datasets.read_info(out)
    assert info["split_protocol"] == "image" and info["warnings"][0].startswith("WARNING: IMAGE-LEVEL SPLIT")
    audit_result = info["leakage_audit"]
    assert audit_result["passed"] and not audit_result["patient_check_enforced"]
    assert audit_result["patients_in_two_splits"] > 0  # reported honestly: the split leaks patients
    card = (out / "README.md").read_text()
    assert "**WARNING: IMAGE-LEVEL SPLIT." in card and "(not enforced: image-level split)" in card


def test_synthesize_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "keep.txt").write_text("user data")
    with pytest.raises(ConfigError, match="exists and is not empty"):
        datasets.synthesize("kaggle-brain-mri", tmp_path / "raw", patients=2)
    with pytest.raises(ConfigError, match="patients >= 1 must hold, got patients=0"):
        datasets.synthesize("kaggle-brain-mri", tmp_path / "new", patients=0)
    assert (tmp_path / "raw" / "keep.txt").read_text() == "user data" and not (tmp_path / "new").exists()
