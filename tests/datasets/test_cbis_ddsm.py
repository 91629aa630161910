"""CBIS-DDSM mass: CSV quirks, DICOM files joined by header UIDs, ROI geometry, both layouts, the phantom.

The hand-made fixtures here are written from the datasets' published descriptions with pydicom and raw
bytes, not with the phantom writer, so a misreading of the format shows up.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

from medzoo import datasets
from medzoo.datasets.base import ADAPTERS
from medzoo.datasets.sources import cbis_ddsm
from medzoo.errors import ConfigError, DatasetFormatError

ADAPTER = ADAPTERS.get("cbis-ddsm-mass")
HEADER = (
    b"patient_id,breast_density,left or right breast,image view,abnormality id,abnormality type,mass shape,"
    b"mass margins,assessment,pathology,subtlety,image file path,cropped image file path,ROI mask file path\r\n"
)
STUDY, FULL, ROI_STUDY, CROP, MASK = (
    f"1.3.6.1.4.1.9590.100.1.2.{n}" for n in (11111, 22222, 33333, 44444, 55555)
)
_sop = iter(range(1, 10_000))


def write_dicom(
    path: Path, pixels: np.ndarray, *, patient: str, study: str, series: str, description: str
) -> None:
    sop = f"1.2.826.0.1.3680043.8.498.{next(_sop)}"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = SecondaryCaptureImageStorage, sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, sop
    ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SeriesDescription = (
        patient,
        study,
        series,
        description,
    )
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    ds.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def mammogram(shape: tuple[int, int], box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A 16-bit gradient 'breast' with a bright rectangular mass at box = (top, left, height, width)."""
    full = (np.linspace(500, 3000, shape[1])[None, :] * np.ones((shape[0], 1))).astype(np.uint16)
    mask = np.zeros(shape, np.uint8)
    t, left, h, w = box
    mask[t : t + h, left : left + w] = 255
    full[mask > 0] = 4000
    return full, mask


def dicom_tree(raw: Path, *, box: tuple[int, int, int, int] = (120, 10, 20, 30), shape=(300, 200)) -> None:
    """TCIA layout whose folder names lie: the mask sits in a 'cropped images' folder and vice versa."""
    full, mask = mammogram(shape, box)
    case = "Mass-Training_P_00001_LEFT_CC"
    write_dicom(
        raw
        / "CBIS-DDSM"
        / case
        / "07-20-2016-DDSM-11111"
        / "1.000000-full mammogram images-22222"
        / "1-1.dcm",
        full,
        patient=case,
        study=STUDY,
        series=FULL,
        description="full mammogram images",
    )
    roi = raw / "CBIS-DDSM" / f"{case}_1" / "07-21-2016-DDSM-33333"
    t, left, h, w = box
    write_dicom(
        roi / "1.000000-ROI mask images-44444" / "1-1.dcm",
        np.ascontiguousarray(full[t : t + h, left : left + w]),
        patient=f"{case}_1",
        study=ROI_STUDY,
        series=CROP,
        description="cropped images",
    )
    write_dicom(
        roi / "1.000000-cropped images-55555" / "1-1.dcm",
        mask,
        patient=f"{case}_1",
        study=ROI_STUDY,
        series=MASK,
        description="ROI mask images",
    )


def case_row(
    pid: str,
    case: str,
    pathology: str,
    full=(STUDY, FULL),
    crop=(ROI_STUDY, CROP),
    mask=(ROI_STUDY, MASK),
    shape: str = "OVAL",
    margins: str = "NA",
) -> bytes:
    """One CSV row as the real files have it: CRLF, the last field quoted with a newline inside."""
    return (
        f"{pid},3,LEFT,CC,1,mass,{shape},{margins},4,{pathology},4,{case}/{full[0]}/{full[1]}/000000.dcm,"
        f'{case}_1/{crop[0]}/{crop[1]}/000000.dcm,"{case}_1/{mask[0]}/{mask[1]}/000001.dcm\n"\r\n'
    ).encode()


def write_csvs(raw: Path, train_rows: list[bytes], test_rows: list[bytes] = ()) -> None:
    (raw / "mass_case_description_train_set.csv").write_bytes(HEADER + b"".join(train_rows))
    (raw / "mass_case_description_test_set.csv").write_bytes(HEADER + b"".join(test_rows))


def test_case_csv_crlf_embedded_newline_na_and_column_names(tmp_path: Path) -> None:
    path = tmp_path / "calc.csv"
    path.write_bytes(
        b"patient_id,breast density,left or right breast,image view,abnormality id,pathology,image file path,"
        b"cropped image file path,ROI mask file path\r\n"
        b'P_00005,3,RIGHT,CC,1,BENIGN_WITHOUT_CALLBACK,a/b/c/000000.dcm,d/e/f/000000.dcm,"d/e/f/000001.dcm\n"\r\n'
        b'P_00007,NA,LEFT,MLO,2,MALIGNANT,g/h/i/000000.dcm,j/k/l/000000.dcm,"j/k/l/000001.dcm\n"\r\n'
    )
    header, rows = cbis_ddsm.read_case_csv(path)
    assert header[1] == "breast_density" and header[2] == "left_or_right_breast"
    assert len(rows) == 2
    assert rows[0]["roi_mask_file_path"] == "d/e/f/000001.dcm"  # the embedded newline is stripped
    assert rows[1]["breast_density"] == "NA"  # the literal NA stays a string


def test_dicom_files_joined_by_header_uids_not_folder_names(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    dicom_tree(raw)
    write_csvs(raw, [case_row("P_00001", "Mass-Training_P_00001_LEFT_CC", "BENIGN_WITHOUT_CALLBACK")])
    (raw / "calc_case_description_train_set.csv").write_bytes(b"patient_id,breast density\r\nP_00009,2\r\n")
    scan = ADAPTER.scan(raw)
    assert scan.layout == "tcia-dicom"
    assert scan.problems == []  # the calc CSV is neither read nor a problem
    (record,) = scan.records
    assert record.label == 0 and record.labels == ("benign",)  # BENIGN_WITHOUT_CALLBACK -> benign
    assert record.patient_id == "P_00001" and record.official_split == "train"
    assert record.extra["mask"].endswith(
        "1.000000-cropped images-55555/1-1.dcm"
    )  # content, not the name, decides
    assert record.extra["crop"].endswith("1.000000-ROI mask images-44444/1-1.dcm")
    assert record.extra["full"].endswith("full mammogram images-22222/1-1.dcm")


def test_roi_is_centred_on_the_mask_and_padded_at_borders(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    box = (120, 4, 20, 30)  # near the left border: the window must leave the image
    dicom_tree(raw, box=box)
    write_csvs(raw, [case_row("P_00001", "Mass-Training_P_00001_LEFT_CC", "MALIGNANT")])
    (record,) = ADAPTER.scan(raw).records
    (item,) = ADAPTER.load(raw, record, {"roi_size_px": 100, "image_size": 100})
    assert item.image.shape == (100, 100) and item.mask.shape == (100, 100)
    ys, xs = np.nonzero(item.mask)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (40, 59, 35, 64)  # 20x30 mass in the middle of 100x100
    assert item.image[50, 50] == 255  # the mass is the brightest thing
    assert (item.image[:, :31] == 0).all()  # the window starts 31 px left of the image: zero padding
    # the fraction rule: the window is 0.2 of the shorter side (200 px) = 40 px, grown to fit the 30 px mass
    (item,) = ADAPTER.load(raw, record, {"image_size": 66})
    ys, xs = np.nonzero(item.mask)
    assert 30 <= xs.max() - xs.min() + 1 <= 62 and abs((xs.min() + xs.max()) / 2 - 32.5) <= 1.5
    with pytest.raises(ConfigError, match="roi_fraction"):
        ADAPTER.load(raw, record, {"roi_fraction": 0})


def test_every_problem_is_reported_with_its_path(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    dicom_tree(raw)
    nowhere = ("1.3.6.1.4.1.9590.100.1.2.999", "1.3.6.1.4.1.9590.100.1.2.998")
    write_csvs(
        raw,
        [
            case_row("P_00001", "Mass-Training_P_00001_LEFT_CC", "MALIGNANT"),
            case_row("P_00002", "Mass-Training_P_00002_LEFT_CC", "MALIGNANT", full=nowhere),
            case_row("P_00003", "Mass-Training_P_00003_LEFT_CC", "PROBABLY_FINE"),
        ],
    )
    truncated = raw / "CBIS-DDSM" / "Mass-Training_P_00004_LEFT_CC" / "x" / "y" / "1-1.dcm"
    full, _ = mammogram((300, 200), (10, 10, 5, 5))
    write_dicom(
        truncated, full, patient="p", study="1.2.3", series="1.2.4", description="full mammogram images"
    )
    truncated.write_bytes(truncated.read_bytes()[:-100])
    scan = ADAPTER.scan(raw)
    assert [r.patient_id for r in scan.records] == ["P_00001"]
    text = [str(p) for p in scan.problems]
    assert any(
        "mass_case_description_train_set.csv: row 2 (patient P_00002" in t
        and "points nowhere" in t
        and nowhere[1] in t
        for t in text
    )
    assert any("row 3" in t and "'PROBABLY_FINE'" in t for t in text)
    assert any(
        t.startswith("CBIS-DDSM/Mass-Training_P_00004_LEFT_CC/x/y/1-1.dcm: truncated DICOM") for t in text
    )
    assert not any(p.fatal for p in scan.problems)
    (raw / "mass_case_description_test_set.csv").unlink()
    fatal = [p for p in ADAPTER.scan(raw).problems if p.fatal]
    assert [p.path for p in fatal] == ["mass_case_description_test_set.csv"]


def test_a_grey_crop_in_place_of_the_mask_is_refused_on_load(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    dicom_tree(raw)
    write_csvs(raw, [case_row("P_00001", "Mass-Training_P_00001_LEFT_CC", "MALIGNANT")])
    (record,) = ADAPTER.scan(raw).records
    mask_file = raw / record.extra["mask"]
    full, _ = mammogram((300, 200), (120, 10, 20, 30))
    write_dicom(mask_file, full, patient="p", study=ROI_STUDY, series=MASK, description="ROI mask images")
    with pytest.raises(DatasetFormatError, match="must be binary"):
        ADAPTER.load(raw, record, {})


def test_jpeg_re_release_layout(tmp_path: Path) -> None:
    raw = tmp_path / "archive"
    full, mask = mammogram((300, 200), (100, 80, 24, 24))
    full8 = (full // 16).astype(np.uint8)
    crop = full8[100:124, 80:104]
    for uid, name, img in ((FULL, "1-249.jpg", full8), (CROP, "1-211.jpg", crop), (CROP, "2-211.jpg", mask)):
        (raw / "jpeg" / uid).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(raw / "jpeg" / uid / name), img)
    (raw / "csv").mkdir()
    (raw / "csv" / "dicom_info.csv").write_text(
        "file_path,image_path,PatientID,SeriesDescription,SeriesInstanceUID\n"
        f"CBIS-DDSM/dicom/a.dcm,CBIS-DDSM/jpeg/{FULL}/1-249.jpg,Mass-Training_P_00001_LEFT_CC,full mammogram images,{FULL}\n"
        f"CBIS-DDSM/dicom/b.dcm,CBIS-DDSM/jpeg/{CROP}/1-211.jpg,Mass-Training_P_00001_LEFT_CC_1,cropped images,{CROP}\n"
        f"CBIS-DDSM/dicom/c.dcm,CBIS-DDSM/jpeg/{CROP}/2-211.jpg,Mass-Training_P_00001_LEFT_CC_1,ROI mask images,{CROP}\n"
    )
    (raw / "csv" / "mass_case_description_train_set.csv").write_bytes(
        HEADER + case_row("P_00001", "Mass-Training_P_00001_LEFT_CC", "MALIGNANT", mask=(ROI_STUDY, CROP))
    )
    (raw / "csv" / "mass_case_description_test_set.csv").write_bytes(HEADER)
    scan = ADAPTER.scan(raw)
    assert scan.layout == "jpeg" and scan.problems == []
    (record,) = scan.records
    assert record.extra["mask"] == f"jpeg/{CROP}/2-211.jpg" and record.label == 1
    (item,) = ADAPTER.load(raw, record, {"roi_size_px": 48, "image_size": 48})
    ys, xs = np.nonzero(item.mask)
    assert np.allclose((ys.min(), ys.max(), xs.min(), xs.max()), (12, 35, 12, 35), atol=1)  # JPEG blurs edges


@pytest.mark.slow
def test_phantom_has_the_native_quirks_and_is_deterministic(tmp_path: Path, phantom_raw) -> None:
    raw = phantom_raw("cbis-ddsm-mass")
    data = (raw / "mass_case_description_train_set.csv").read_bytes()
    assert data.count(b"\r\n") > 5 and b'.dcm\n"\r\n' in data and b"BENIGN" in data
    _header, rows = cbis_ddsm.read_case_csv(raw / "mass_case_description_train_set.csv")
    for row in rows:  # the CSV's path grammar does not exist on disk (TCIA's descriptive names do)
        assert not (raw / row["image_file_path"]).exists()
        assert not (raw / "CBIS-DDSM" / row["image_file_path"]).exists()
    again = tmp_path / "again"
    datasets.synthesize("cbis-ddsm-mass", again, patients=4, seed=3)
    other = tmp_path / "other"
    datasets.synthesize("cbis-ddsm-mass", other, patients=4, seed=3)
    files = sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(other) for p in other.rglob("*") if p.is_file())
    assert all((again / f).read_bytes() == (other / f).read_bytes() for f in files)


@pytest.mark.slow
def test_phantom_check_prepare_open_with_official_split(prepared_phantom, phantom_raw) -> None:
    report = datasets.check("cbis-ddsm-mass", phantom_raw("cbis-ddsm-mass"))
    assert report.usable and report.problems == []
    assert report.counts["benign"] > 0 and report.counts["malignant"] > 0
    out = prepared_phantom("cbis-ddsm-mass")
    info = json.loads((out / "dataset.json").read_text())
    assert info["split_protocol"] == "official" and info["leakage_audit"]["passed"] is True
    manifest = datasets.read_manifest(out)
    official = {r.extra["key"]: r.official_split for r in report.records}
    for path, split in zip(manifest["path"], manifest["split"], strict=True):
        assert (split == "test") == (official[Path(path).stem] == "test")  # test = the official test CSV
    by_split = manifest.groupby("split")["patient_id"].apply(set)
    assert not (by_split["train"] & by_split["test"]) and not (by_split["val"] & by_split["test"])
    assert (manifest["mask_path"] != "").all()
    ds = datasets.open(out, split="train")
    item = ds[0]
    assert item["image"].shape == (3, 299, 299) and item["has_mask"]
    mask = item["mask"][0].numpy()
    ys, xs = np.nonzero(mask)
    assert abs((ys.min() + ys.max()) / 2 - 149) <= 4 and abs((xs.min() + xs.max()) / 2 - 149) <= 4


def test_a_patient_in_both_official_csvs_is_reported(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    dicom_tree(raw)
    row = case_row("P_00001", "Mass-Training_P_00001_LEFT_CC", "MALIGNANT")
    write_csvs(raw, [row], [row])
    (problem,) = ADAPTER.scan(raw).problems
    assert problem.path == "mass_case_description_test_set.csv" and "patient-disjoint" in problem.message
    assert "P_00001" in problem.message


def test_a_header_patient_id_that_disagrees_with_the_csv_case_is_reported(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    dicom_tree(raw)
    full_file = next(raw.rglob("1.000000-full mammogram images-22222/1-1.dcm"))
    full, _ = mammogram((300, 200), (120, 10, 20, 30))
    write_dicom(
        full_file,
        full,
        patient="Mass-Training_P_00777_LEFT_CC",
        study=STUDY,
        series=FULL,
        description="full mammogram images",
    )
    write_csvs(raw, [case_row("P_00001", "Mass-Training_P_00001_LEFT_CC", "MALIGNANT")])
    scan = ADAPTER.scan(raw)
    assert len(scan.records) == 1  # joined by UID all the same
    (problem,) = scan.problems
    assert problem.path == full_file.relative_to(raw).as_posix() and "P_00777" in problem.message
