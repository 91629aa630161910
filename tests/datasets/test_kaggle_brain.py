"""kaggle-brain-mri: both layouts, no-tumour left out and counted, all rows test, and dedup_against."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from medzoo import datasets


def _slice(path: Path, size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size), np.uint8)
    cv2.ellipse(img, (size // 2, size // 2), (size * 3 // 8, size * 7 // 16), 0, 0, 360, 120, -1)
    cv2.circle(img, (int(rng.integers(size // 3, 2 * size // 3)), size // 2), size // 12, 230, -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cv2.imencode(".jpg", img)[1].tobytes())


def test_sartaj_layout_maps_classes_and_leaves_out_no_tumour(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    _slice(raw / "Training" / "glioma_tumor" / "gg (1).jpg", 512, 1)
    _slice(raw / "Training" / "meningioma_tumor" / "m1(12).jpg", 300, 2)
    _slice(raw / "Testing" / "pituitary_tumor" / "image(3).jpg", 256, 3)
    _slice(raw / "Testing" / "no_tumor" / "image(1).jpg", 256, 4)
    _slice(raw / "Testing" / "no_tumor" / "image(2).jpg", 256, 5)
    _slice(raw / "Testing" / "astrocytoma" / "a.jpg", 256, 6)
    report = datasets.check("kaggle-brain-mri", raw)
    assert report.layout == "Sartaj (3264)"
    assert report.counts == {"meningioma": 1, "glioma": 1, "pituitary": 1}
    assert report.excluded == {"no_tumour": 2}
    assert any("unknown class folder 'astrocytoma'" in p.message for p in report.problems)
    out = datasets.prepare("kaggle-brain-mri", raw, tmp_path / "out", progress=False)
    m = datasets.read_manifest(out)
    assert set(m["split"]) == {"test"} and len(m) == 3
    info = datasets.read_info(out)
    assert info["classes"] == list(datasets.get("figshare-brain").classes)
    assert info["excluded"] == {"no_tumour": 2} and info["warnings"] == []


def test_dedup_removes_the_figshare_re_release(prepared_phantom, tmp_path: Path) -> None:
    figshare = prepared_phantom("figshare-brain")
    kaggle = tmp_path / "kaggle"
    shutil.copytree(prepared_phantom("kaggle-brain-mri"), kaggle)
    before = datasets.read_manifest(kaggle)
    report = datasets.dedup_against(kaggle, figshare)
    # the kaggle phantom (12 patients) re-releases figshare phantom patients 0..2 as JPEGs: 13 slices
    assert report["exact"] == 0 and report["near"] == 13 and report["removed"] == 13
    assert report["kept"] == len(before) - 13 == len(datasets.read_manifest(kaggle))
    info = datasets.read_info(kaggle)
    assert info["dedup"]["removed"] == 13 and info["counts"]["test"]["total"] == report["kept"]
    assert "removed 13" in (kaggle / "README.md").read_text()
    assert all((kaggle / p).is_file() for p in report["removed_paths"])  # files stay; rows go


def test_dedup_finds_exact_copies(prepared_phantom, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(prepared_phantom("figshare-brain"), copy)
    n = len(datasets.read_manifest(copy))
    report = datasets.dedup_against(copy, prepared_phantom("figshare-brain"))
    assert report["exact"] == n and report["near"] == 0 and report["kept"] == 0
