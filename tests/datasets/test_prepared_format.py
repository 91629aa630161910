"""dataset.json and manifest.parquet as typed contracts: round trip, and one clear error per violation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from medzoo import datasets
from medzoo.errors import FormatError
from medzoo.formats.prepared import MANIFEST_COLUMNS, DatasetInfo, read_info, read_manifest


@pytest.fixture
def prepared_copy(prepared_phantom, tmp_path: Path) -> Path:
    """A private copy of a prepared phantom that a test may corrupt."""
    out = tmp_path / "prepared"
    shutil.copytree(prepared_phantom("figshare-brain"), out)
    return out


def test_round_trip_keeps_every_key_prepare_writes(prepared_copy: Path, tmp_path: Path) -> None:
    raw = json.loads((prepared_copy / "dataset.json").read_text())
    assert raw["format_version"] == DatasetInfo.FORMAT_VERSION
    info = read_info(prepared_copy)
    assert info.id == "figshare-brain" and info.task == "multiclass" and info.leakage_audit.passed
    assert info.to_dict() == {k: v for k, v in raw.items() if k != "format_version"}
    again = tmp_path / "again"
    again.mkdir()
    info.write(again)
    assert read_info(again) == info
    # the dict view of medzoo.datasets keeps its callers working
    view = datasets.read_info(prepared_copy)
    assert view["classes"] == list(info.classes) and view["counts"] == info.counts


def _corrupt(folder: Path, data: bytes) -> None:
    (folder / "dataset.json").write_bytes(data)


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        (lambda d: d.update(seed="0"), r"field 'seed' must be an integer"),
        (lambda d: d.pop("classes"), r"required field 'classes' is missing"),
        (lambda d: d.update(format_version=99), r"format_version 99"),
        (
            lambda d: d["leakage_audit"].update(passed="yes"),
            r"field 'leakage_audit.passed' must be true or false",
        ),
        (lambda d: d.update(task="regression"), r"field 'task' must be one of"),
        (lambda d: d.update(surprise=1), r"unknown field"),
    ],
)
def test_schema_violations_are_one_error_naming_file_and_field(prepared_copy: Path, change, expect) -> None:
    data = json.loads((prepared_copy / "dataset.json").read_text())
    change(data)
    _corrupt(prepared_copy, json.dumps(data).encode())
    with pytest.raises(FormatError, match=expect) as err:
        datasets.read_info(prepared_copy)
    assert "dataset.json" in err.value.message


def test_non_utf8_and_truncated_json_are_one_error(prepared_copy: Path) -> None:
    text = (prepared_copy / "dataset.json").read_bytes()
    _corrupt(prepared_copy, text[:40] + b"\xff\xfe" + text[40:])
    with pytest.raises(FormatError, match=r"dataset.json must be UTF-8"):
        read_info(prepared_copy)
    _corrupt(prepared_copy, text[: len(text) // 2])
    with pytest.raises(FormatError, match=r"dataset.json is not valid JSON .*truncated"):
        read_info(prepared_copy)
    (prepared_copy / "dataset.json").unlink()
    with pytest.raises(FormatError, match=r"dataset.json is missing"):
        datasets.open(prepared_copy, split="train")


def _rewrite_manifest(folder: Path, df: pd.DataFrame) -> None:
    df.to_parquet(folder / "manifest.parquet", index=False)


def test_manifest_round_trip_and_columns(prepared_copy: Path) -> None:
    df = read_manifest(prepared_copy)
    assert list(df.columns[: len(MANIFEST_COLUMNS)]) == list(MANIFEST_COLUMNS)
    assert all(isinstance(v, list) for v in df["labels"])


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        (lambda df: df.drop(columns=["sha256"]), r"required column\(s\) \['sha256'\] are missing"),
        (lambda df: df.assign(label=df["label"].astype(str)), r"column 'label' must hold an integer"),
        (lambda df: df.assign(labels=df["label"]), r"column 'labels' must hold a list of strings"),
        (lambda df: df.assign(split="holdout"), r"column 'split' must hold only"),
        (lambda df: df.assign(path="../../etc/passwd"), r"column 'path' row 0 names '../../etc/passwd'"),
        (lambda df: df.assign(mask_path="/etc/passwd"), r"column 'mask_path' row 0"),
        (lambda df: df.assign(patient_id=""), r"column 'patient_id' is empty in row 0"),
    ],
)
def test_manifest_violations_name_file_and_column(prepared_copy: Path, change, expect) -> None:
    _rewrite_manifest(prepared_copy, change(read_manifest(prepared_copy)))
    with pytest.raises(FormatError, match=expect) as err:
        datasets.read_manifest(prepared_copy)
    assert "manifest.parquet" in err.value.message


def test_truncated_manifest_is_one_error(prepared_copy: Path) -> None:
    data = (prepared_copy / "manifest.parquet").read_bytes()
    (prepared_copy / "manifest.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match=r"manifest.parquet is not a readable parquet file"):
        datasets.read_manifest(prepared_copy)
