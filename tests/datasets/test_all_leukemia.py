"""all-leukemia: both published variants built by hand from the datasets' published descriptions, broken inputs, and the phantom."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from medzoo import datasets
from medzoo.errors import ConfigError


def _jpeg(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (224, 224)) -> None:
    img = np.full((*size, 3), 235, np.uint8)
    cv2.circle(img, (size[1] // 2, size[0] // 2), min(size) // 5, colour, -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".jpg", img)
    path.write_bytes(buf.tobytes())


@pytest.fixture
def variant_b(tmp_path: Path) -> Path:
    root = tmp_path / "raw" / "Blood cell Cancer [ALL]"
    folders = ["Benign", "[Malignant] early Pre-B", "[Malignant] Pre-B", "[Malignant] Pro-B"]
    for i, folder in enumerate(folders):
        _jpeg(root / folder / "Snap_001.jpg", (120, 40 + 30 * i, 150))
        _jpeg(root / folder / "Sap_013 (1).JPG", (100, 30 + 30 * i, 140), size=(300, 257))
    return tmp_path / "raw"


def test_variant_b_names_with_spaces_brackets_and_upper_case(variant_b: Path) -> None:
    report = datasets.check("all-leukemia", variant_b)
    assert report.usable and not report.problems
    assert report.counts == {"benign": 2, "early_pre_b": 2, "pre_b": 2, "pro_b": 2}
    assert "variant B" in report.layout
    sources = {r.source: r.labels[0] for r in report.records}
    assert sources["Blood cell Cancer [ALL]/[Malignant] early Pre-B/Sap_013 (1).JPG"] == "early_pre_b"
    assert len({r.patient_id for r in report.records}) == 8  # same file names in four folders stay distinct
    adapter = datasets.adapter("all-leukemia")
    rec = next(r for r in report.records if r.source.endswith("Pro-B/Sap_013 (1).JPG"))
    item = adapter.load(variant_b, rec, {**adapter.default_params, "image_size": 64})[0]
    assert item.image.shape == (64, 64, 3)  # a 300x257 image: no size assumed
    assert item.image[0, 0].tolist() == [0, 0, 0]  # pale background removed by the CIELAB k-means mask
    assert item.image[32, 32].sum() > 0  # the stained cell kept


def test_variant_a_reads_original_only_and_reports_broken_files(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    for i, (folder, prefix) in enumerate(
        [
            ("Benign", "WBC-Benign"),
            ("Early", "WBC-Malignant-Early"),
            ("Pre", "WBC-Malignant-Pre"),
            ("Pro", "WBC-Malignant-Pro"),
        ]
    ):
        for root in ("Original", "Segmented"):
            _jpeg(raw / root / folder / f"{prefix}-001.jpg", (110, 50 + 20 * i, 150))
    good = (raw / "Original" / "Pro" / "WBC-Malignant-Pro-001.jpg").read_bytes()
    (raw / "Original" / "Pro" / "WBC-Malignant-Pro-002.jpg").write_bytes(good[: len(good) // 2])  # truncated
    _jpeg(raw / "Original" / "Monocyte" / "WBC-Mono-001.jpg", (1, 2, 3))  # unknown class folder
    (raw / "Original" / "Pre" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (raw / "Original" / "Pre" / "notes.txt").write_text("x")
    (raw / "Original" / "Empty").mkdir()
    report = datasets.check("all-leukemia", raw)
    msgs = {p.path: p.message for p in report.problems}
    assert "truncated JPEG" in msgs["Original/Pro/WBC-Malignant-Pro-002.jpg"]
    assert "unknown class folder 'Monocyte'" in msgs["Original/Monocyte"]
    assert "stray OS file" in msgs["Original/Pre/.DS_Store"]
    assert "not an image" in msgs["Original/Pre/notes.txt"]
    assert "empty folder" in msgs["Original/Empty"]
    assert report.usable and len(report.records) == 4
    assert all(r.source.startswith("Original/") for r in report.records)
    assert report.layout.startswith("variant A")


def test_patient_split_is_refused_and_image_split_says_so(prepared_phantom) -> None:
    out = prepared_phantom("all-leukemia")
    info = datasets.read_info(out)
    assert info["split_protocol"] == "image"
    assert "IMAGE-LEVEL SPLIT" in info["warnings"][0]
    card = (out / "README.md").read_text()
    assert "image-level split" in card and "IMAGE-LEVEL SPLIT" in card and "PHANTOM DATA" in card
    m = datasets.read_manifest(out)
    assert (m["patient_id"] == m["path"].str.removeprefix("images/").str.removesuffix(".png")).all()
    assert set(m["split"]) == {"train", "val", "test"} and (m["mask_path"] == "").all()
    with pytest.raises(ConfigError, match="no patient ids"):
        datasets.prepare("all-leukemia", out, out.parent / "x", split="patient", progress=False)


def test_phantom_layout_and_class_dependent_nuclei(phantom_raw) -> None:
    raw = phantom_raw("all-leukemia")
    names = sorted(p.relative_to(raw).as_posix() for p in (raw / "Original").rglob("*.jpg"))
    assert names[0].startswith("Original/Benign/WBC-Benign-001.jpg")
    mirror = sorted(p.relative_to(raw / "Segmented").as_posix() for p in (raw / "Segmented").rglob("*.jpg"))
    assert mirror == [n.removeprefix("Original/") for n in names]
    report = datasets.check("all-leukemia", raw)
    assert report.usable and not report.problems and min(report.counts.values()) > 0
    # nucleus area (dark stained pixels of the segmented mirror) grows from benign to pro-B
    areas = {}
    for folder in ("Benign", "Pro"):
        imgs = [cv2.imread(str(p)) for p in sorted((raw / "Segmented" / folder).glob("*.jpg"))]
        areas[folder] = np.mean([(img.sum(axis=2) > 60).mean() for img in imgs])
    assert areas["Pro"] > areas["Benign"] * 1.3
