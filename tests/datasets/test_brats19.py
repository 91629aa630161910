"""BraTS 2019 grade: folder layout, optional CSV cross-checks, slice selection, the phantom end to end.

The hand-made volumes are written here with nibabel from the datasets' published descriptions (odd sizes,
float and integer dtypes), independently of the phantom writer.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medzoo import datasets
from medzoo.datasets.base import ADAPTERS
from medzoo.datasets.sources import brats19
from medzoo.errors import DatasetFormatError

ADAPTER = ADAPTERS.get("brats19-grade")
SHAPE = (30, 26, 50)  # x, y, z: not 240 x 240 x 155


def write_patient(
    root: Path,
    grade: str,
    pid: str,
    *,
    peak: int,
    seg_dtype=np.float32,
    img_dtype=np.float64,
    seg_values: tuple[int, ...] = (2, 1, 4),
) -> Path:
    """A brain box with a tumour whose axial area peaks at slice ``peak`` (1-voxel discs elsewhere)."""
    folder = root / "MICCAI_BraTS_2019_Data_Training" / grade / pid
    folder.mkdir(parents=True)
    seg = np.zeros(SHAPE, np.int16)
    for z in range(max(peak - 8, 0), min(peak + 9, SHAPE[2])):
        r = 8 - abs(z - peak)  # the area shrinks away from the peak
        seg[15 - r // 2 : 15 + r // 2 + 1, 10 - r // 2 : 10 + r // 2 + 1, z] = seg_values[0]
    seg[14:16, 9:11, peak] = seg_values[1]
    seg[13, 10, peak] = seg_values[-1]
    affine = np.diag([-1.0, -1.0, 1.0, 1.0])
    brain = np.zeros(SHAPE)
    brain[2:-2, 2:-2, :] = np.random.default_rng(len(pid)).uniform(
        300, 900, (SHAPE[0] - 4, SHAPE[1] - 4, SHAPE[2])
    )
    for k, seq in enumerate(("flair", "t1", "t1ce", "t2")):
        nib.save(
            nib.Nifti1Image((brain * (k + 1)).astype(img_dtype), affine), str(folder / f"{pid}_{seq}.nii.gz")
        )
    nib.save(nib.Nifti1Image(seg.astype(seg_dtype), affine), str(folder / f"{pid}_seg.nii.gz"))
    return folder


def test_slices_around_the_largest_tumour_area_for_every_sequence(tmp_path: Path) -> None:
    write_patient(tmp_path, "HGG", "BraTS19_CBICA_AAB_1", peak=31)
    write_patient(
        tmp_path,
        "LGG",
        "BraTS19_2013_10_1",
        peak=1,
        seg_dtype=np.uint8,
        img_dtype=np.int16,
        seg_values=(2, 1, 1),
    )
    scan = ADAPTER.scan(tmp_path)
    assert scan.problems == []
    by_id = {r.patient_id: r for r in scan.records}
    assert by_id["BraTS19_CBICA_AAB_1"].labels == ("hgg",) and by_id["BraTS19_CBICA_AAB_1"].label == 1
    assert by_id["BraTS19_2013_10_1"].labels == ("lgg",) and by_id["BraTS19_2013_10_1"].label == 0
    items = ADAPTER.load(tmp_path, by_id["BraTS19_CBICA_AAB_1"], {"slices": 6, "image_size": 32})
    assert len(items) == 4 * 6
    assert sorted({i.columns["slice"] for i in items}) == [28, 29, 30, 31, 32, 33]  # peak 31, N=6
    assert {i.columns["sequence"] for i in items} == {"t1", "t1ce", "t2", "flair"}
    assert all(i.key.startswith("BraTS19_CBICA_AAB_1_z") for i in items)
    peak = next(i for i in items if i.columns["slice"] == 31 and i.columns["sequence"] == "t1")
    assert peak.image.dtype == np.uint8 and peak.image.shape == (32, 32)
    assert set(np.unique(peak.mask)) == {0, 255} and (peak.mask > 0).sum() > 20
    # a peak at the volume's edge: the window is shifted inside, never shortened
    lgg = ADAPTER.load(
        tmp_path, by_id["BraTS19_2013_10_1"], {"slices": 6, "image_size": 32, "sequences": ["flair"]}
    )
    assert [i.columns["slice"] for i in lgg] == [0, 1, 2, 3, 4, 5]


def test_tumour_slices_and_volume_scaling() -> None:
    tumour = np.zeros((4, 4, 10), bool)
    tumour[:2, :2, 7] = True
    tumour[:1, :1, 6] = True
    assert brats19.tumour_slices(tumour, 4) == [5, 6, 7, 8]
    assert brats19.tumour_slices(tumour, 20) == list(range(10))  # a thin volume gives what it has
    assert brats19.tumour_slices(np.zeros((2, 2, 3), bool), 4) is None
    vol = np.zeros((5, 5, 5), np.float32)
    vol[1:4, 1:4, 1:4] = np.linspace(-50, 5000, 27).reshape(3, 3, 3)
    out = brats19.scale_volume(vol, low_pct=0, high_pct=100)
    assert out.dtype == np.uint8 and out[0, 0, 0] == 0 and out.max() == 255


def test_problems_missing_truncated_and_csv_cross_checks(tmp_path: Path) -> None:
    write_patient(tmp_path, "HGG", "BraTS19_TCIA01_101_1", peak=20)
    write_patient(tmp_path, "LGG", "BraTS19_TCIA02_102_1", peak=20)
    missing = write_patient(tmp_path, "HGG", "BraTS19_TCIA01_103_1", peak=20)
    (missing / "BraTS19_TCIA01_103_1_seg.nii.gz").unlink()
    broken = write_patient(tmp_path, "LGG", "BraTS19_TCIA02_104_1", peak=20)
    t2 = broken / "BraTS19_TCIA02_104_1_t2.nii.gz"
    t2.write_bytes(t2.read_bytes()[: t2.stat().st_size // 2])
    root = tmp_path / "MICCAI_BraTS_2019_Data_Training"
    (root / "name_mapping.csv").write_text(
        "Grade,BraTS_2017_subject_ID,BraTS_2018_subject_ID,TCGA_TCIA_subject_ID,BraTS_2019_subject_ID\n"
        "HGG,NA,NA,NA,BraTS19_TCIA01_101_1\n"
        "HGG,NA,NA,NA,BraTS19_TCIA02_102_1\n"
        "LGG,NA,NA,NA,BraTS19_NOWHERE_1\n"
    )
    (root / "survival_data.csv").write_text(
        "BraTS19ID,Age,Survival,ResectionStatus\nBraTS19_TCIA01_101_1,60.5,ALIVE (361 days later),GTR\n"
        "BraTS19_TCIA02_102_1,51,400,NA\n"
    )
    scan = ADAPTER.scan(tmp_path)
    assert sorted(r.patient_id for r in scan.records) == ["BraTS19_TCIA01_101_1", "BraTS19_TCIA02_102_1"]
    text = [str(p) for p in scan.problems]
    assert any(
        t.startswith("MICCAI_BraTS_2019_Data_Training/HGG/BraTS19_TCIA01_103_1:") and "missing seg" in t
        for t in text
    )
    assert any(
        t.startswith(f"MICCAI_BraTS_2019_Data_Training/LGG/BraTS19_TCIA02_104_1/{t2.name}: truncated")
        for t in text
    )
    assert any("name_mapping.csv: row 2" in t and "LGG folder" in t for t in text)  # grade conflict
    assert any("name_mapping.csv: row 3" in t and "points nowhere" in t for t in text)
    assert any("survival_data.csv: row 2" in t and "HGG patients only" in t for t in text)
    assert not any(p.fatal for p in scan.problems)
    assert any(p.fatal for p in ADAPTER.scan(tmp_path / "MICCAI_BraTS_2019_Data_Training" / "HGG").problems)


def test_segmentation_with_label_3_is_refused(tmp_path: Path) -> None:
    write_patient(tmp_path, "HGG", "BraTS19_CBICA_ABC_1", peak=20, seg_values=(2, 3, 4))
    (record,) = ADAPTER.scan(tmp_path).records
    with pytest.raises(DatasetFormatError, match=r"labels must be in \{0, 1, 2, 4\}, found \[0, 2, 3, 4\]"):
        ADAPTER.load(tmp_path, record, {})


@pytest.mark.slow
def test_phantom_end_to_end_patient_split(prepared_phantom, phantom_raw) -> None:
    raw = phantom_raw("brats19-grade")
    report = datasets.check("brats19-grade", raw)
    assert report.usable and report.problems == []
    assert report.counts["lgg"] >= 2 and report.counts["hgg"] >= 2
    out = prepared_phantom("brats19-grade")
    info = json.loads((out / "dataset.json").read_text())
    assert info["split_protocol"] == "patient" and info["leakage_audit"]["passed"] is True
    manifest = datasets.read_manifest(out)
    per_patient = manifest.groupby(["patient_id", "sequence"]).size()
    assert set(per_patient) == {20} and len(per_patient) == 4 * len(report.records)
    assert manifest.groupby("patient_id")["split"].nunique().max() == 1  # patient-level
    assert (manifest["mask_path"] != "").all()
    flair = datasets.open(out, split="train", sequence="flair")
    assert set(flair.manifest["sequence"]) == {"flair"}
    item = flair[0]
    assert item["image"].shape == (3, 224, 224) and item["has_mask"]


@pytest.mark.slow
def test_image_level_split_keeps_the_sequences_of_a_slice_together(phantom_raw, tmp_path: Path) -> None:
    out = datasets.prepare(
        "brats19-grade",
        phantom_raw("brats19-grade"),
        tmp_path / "img",
        split="image",
        params={"slices": 4},
        image_size=16,
        seed=1,
        progress=False,
    )
    manifest = datasets.read_manifest(out)
    assert manifest.groupby(["patient_id", "slice"])["split"].nunique().max() == 1
    assert manifest.groupby("patient_id")["split"].nunique().max() > 1  # the studies' leaky protocol
    assert "IMAGE-LEVEL" in " ".join(datasets.read_info(out)["warnings"])
