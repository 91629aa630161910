"""ChestX-ray14: both Data_Entry CSVs, both image layouts, split lists, boxes, the phantom end to end.

The hand-made downloads are written here byte by byte from the datasets' published descriptions (trailing
commas, ``Patient Sex``, ``058Y`` ages, unquoted bracket commas), not by the phantom.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from medzoo import datasets
from medzoo.datasets.base import ADAPTERS
from medzoo.datasets.sources import chestxray14

ADAPTER = ADAPTERS.get("chestxray14")


def png(path: Path, side: int = 64, value: int = 90) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((side, side), value, np.uint8)
    img[side // 4 : side // 2, side // 4 : side // 2] = 200
    cv2.imwrite(str(path), img)


def test_old_csv_with_trailing_commas_sex_column_and_year_ages(tmp_path: Path) -> None:
    for name in ("00000001_000.png", "00000001_001.png", "00000003_000.png"):
        png(tmp_path / "images" / name)
    (tmp_path / "Data_Entry_2017.csv").write_text(
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Sex,View Position,"
        "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n"
        "00000001_000.png,Cardiomegaly|Emphysema,0,1,058Y,M,PA,2682,2749,0.143,0.143,\n"
        "00000001_001.png,No Finding,1,1,058Y,M,PA,2894,2729,0.143,0.143,\n"
        "00000003_000.png,Pneumothorax|Hernia|Effusion,0,3,081Y,F,AP,2048,2500,0.168,0.168,\n"
    )
    (tmp_path / "train_val_list.txt").write_text("00000001_000.png\n00000001_001.png\n")
    (tmp_path / "test_list.txt").write_text("00000003_000.png\n")
    scan = ADAPTER.scan(tmp_path)
    assert scan.problems == [] and scan.layout == "nih"
    by_name = {Path(r.source).name: r for r in scan.records}
    first = by_name["00000001_000.png"]
    assert first.source == "images/00000001_000.png" and first.label == -1
    assert first.labels == ("Cardiomegaly", "Emphysema") and first.patient_id == "1"
    assert first.extra["age"] == 58 and first.official_split == "train"
    assert by_name["00000001_001.png"].labels == ()  # No Finding
    third = by_name["00000003_000.png"]
    assert third.labels == ("Effusion", "Hernia", "Pneumothorax")  # class order, not file order
    assert third.official_split == "test"
    (tmp_path / "test_list.txt").unlink()  # half an official split would leak unlisted test images
    assert [p.path for p in ADAPTER.scan(tmp_path).problems if p.fatal] == ["test_list.txt"]
    (tmp_path / "train_val_list.txt").unlink()  # no lists at all: usable, patient-level split only
    scan = ADAPTER.scan(tmp_path)
    assert not any(p.fatal for p in scan.problems) and all(r.official_split is None for r in scan.records)


def test_parse_helpers() -> None:
    assert chestxray14.parse_age("058Y") == 58 and chestxray14.parse_age("58") == 58
    assert chestxray14.parse_age("005M") == 0 and chestxray14.parse_age("old") is None
    assert chestxray14.parse_findings("No Finding") == ()
    assert "must stand alone" in chestxray14.parse_findings("No Finding|Mass")
    assert "'Pneumonitis'" in chestxray14.parse_findings("Mass|Pneumonitis")


def v2020(tmp_path: Path, rows: list[str]) -> None:
    (tmp_path / "Data_Entry_2017_v2020.csv").write_text(
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
        "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n" + "".join(r + "\n" for r in rows)
    )


def test_v2020_csv_nested_layout_and_every_problem_by_path(tmp_path: Path) -> None:
    for name in ("00000010_000.png", "00000011_000.png", "00000012_000.png", "00000013_000.png"):
        png(tmp_path / "images_001" / "images" / name)
    png(tmp_path / "images_002" / "images" / "00000014_000.png")
    png(tmp_path / "images_002" / "images" / "00000099_000.png")  # no CSV row
    bad = tmp_path / "images_002" / "images" / "00000015_000.png"
    png(bad)
    bad.write_bytes(bad.read_bytes()[:-20])  # truncated: the IEND chunk is gone
    v2020(
        tmp_path,
        [
            "00000010_000.png,Mass|Nodule,0,10,45,F,PA,2500,2048,0.139,0.139",
            "00000011_000.png,Pneumonitis,0,11,50,M,PA,2500,2048,0.139,0.139",
            "00000012_000.png,Infiltration,0,12,50,M,AP,2500,2048,0.139,0.139",
            "00000013_000.png,Edema,0,13,50,M,AP,2500,2048,0.139,0.139",
            "00000014_000.png,Effusion,0,14,61,M,AP,2500,2048,0.139,0.139",
            "00000015_000.png,Effusion,0,15,61,M,AP,2500,2048,0.139,0.139",
            "00000016_000.png,Atelectasis,0,16,33,F,PA,2500,2048,0.139,0.139",
        ],
    )
    (tmp_path / "train_val_list.txt").write_text("00000010_000.png\n00000011_000.png\n00000012_000.png\n")
    (tmp_path / "test_list.txt").write_text("00000014_000.png\n00000015_000.png\n00000016_000.png\n")
    scan = ADAPTER.scan(tmp_path)
    assert scan.layout == "kaggle"
    assert sorted(r.source for r in scan.records) == [
        "images_001/images/00000010_000.png",
        "images_001/images/00000012_000.png",
        "images_002/images/00000014_000.png",
    ]
    text = [str(p) for p in scan.problems]
    assert any(
        t.startswith("Data_Entry_2017_v2020.csv: row 2 (00000011_000.png)") and "'Pneumonitis'" in t
        for t in text
    )
    assert any(
        t.startswith("Data_Entry_2017_v2020.csv: row 7 (00000016_000.png) points nowhere") for t in text
    )
    assert any(t.startswith("images_002/images/00000015_000.png: truncated PNG") for t in text)
    assert any(
        t.startswith("images_001/images/00000013_000.png:") and "neither train_val_list" in t for t in text
    )
    assert any(t.startswith("images_002/images/00000099_000.png: stray image") for t in text)
    assert not any(p.fatal for p in scan.problems)
    (tmp_path / "Data_Entry_2017_v2020.csv").unlink()
    assert any(p.fatal for p in ADAPTER.scan(tmp_path).problems)


def test_bounding_boxes_become_a_mask_in_release_coordinates(tmp_path: Path) -> None:
    png(tmp_path / "images" / "00000020_000.png", side=256)
    png(tmp_path / "images" / "00000021_000.png", side=256)
    v2020(
        tmp_path,
        [
            "00000020_000.png,Infiltration|Mass,0,20,45,F,PA,2500,2048,0.139,0.139",
            "00000021_000.png,No Finding,0,21,45,F,PA,2500,2048,0.139,0.139",
        ],
    )
    (tmp_path / "train_val_list.txt").write_text("00000020_000.png\n00000021_000.png\n")
    (tmp_path / "test_list.txt").write_text("")
    (tmp_path / "BBox_List_2017.csv").write_text(
        "Image Index,Finding Label,Bbox [x,y,w,h],,,\n00000020_000.png,Infiltrate,512.0,256.0,256.0,128.0,,,\n"
        "00000020_000.png,Mass,0,0,64,64,,,\n"
    )
    scan = ADAPTER.scan(tmp_path)
    assert scan.problems == []
    rec = next(r for r in scan.records if r.source.endswith("00000020_000.png"))
    assert [b[0] for b in rec.extra["boxes"]] == ["Infiltration", "Mass"]  # "Infiltrate" is the same finding
    (item,) = ADAPTER.load(tmp_path, rec, {"image_size": 64})
    assert item.image.shape == (64, 64) and item.key == "00000020_000"
    # 1024-space boxes on a 256 px copy, shown at 64 px: x 512..768 -> 32..48, y 256..384 -> 16..24
    expected = np.zeros((64, 64), np.uint8)
    expected[16:24, 32:48] = 255
    expected[0:4, 0:4] = 255
    assert np.array_equal(item.mask, expected)
    other = next(r for r in scan.records if r.source.endswith("00000021_000.png"))
    assert ADAPTER.load(tmp_path, other, {"image_size": 64})[0].mask is None


@pytest.mark.slow
def test_phantom_end_to_end_official_lists(prepared_phantom, phantom_raw) -> None:
    raw = phantom_raw("chestxray14")
    header = (raw / "Data_Entry_2017_v2020.csv").read_text().splitlines()[0]
    assert len(header.split(",")) == 11 and "OriginalImage[Width,Height]" in header
    assert "Infiltrate" in (raw / "BBox_List_2017.csv").read_text()
    report = datasets.check("chestxray14", raw)
    assert report.usable and [p for p in report.problems if "has no items" not in p.message] == []
    out = prepared_phantom("chestxray14")
    info = json.loads((out / "dataset.json").read_text())
    assert info["split_protocol"] == "official" and info["leakage_audit"]["passed"] is True
    manifest = datasets.read_manifest(out)
    listed_test = set((raw / "test_list.txt").read_text().split())
    assert (
        set(manifest[manifest["split"] == "test"]["path"].map(lambda p: Path(p).stem + ".png")) == listed_test
    )
    by_split = manifest.groupby("split")["patient_id"].apply(set)
    assert not (by_split["train"] & by_split["test"]) and not (by_split["val"] & by_split["test"])
    assert (manifest["label"] == -1).all() and (manifest["mask_path"] != "").any()
    cooccur = manifest["labels"].map(len)
    assert (cooccur == 0).any() and (cooccur >= 2).any()  # No Finding and several findings at once
    ds = datasets.open(out, split="train")
    item = ds[0]
    assert item["target"].shape == (14,) and item["image"].shape == (3, 224, 224)
    row = ds.manifest.iloc[0]
    assert [chestxray14.FINDINGS[i] for i in np.flatnonzero(item["target"].numpy())] == list(row["labels"])


@pytest.mark.parametrize("seed", [0, 1])
def test_phantom_is_deterministic(tmp_path: Path, seed: int) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        datasets.synthesize("chestxray14", out, patients=4, seed=seed)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
