"""`medzoo publish | zoo list | pull | predict` through the real entry point."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from medzoo.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _dicom(path, arr, modality="MR"):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, (ds.Rows, ds.Columns) = modality, arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = arr.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_publish_list_pull_from_the_cli(tiny_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    zoo = tmp_path / "zoo"
    code, out, err = run(["publish", str(tiny_run), "--zoo", str(zoo), "--name", "cli-model"], capsys)
    assert code == 0, err
    assert "published figshare-brain/cli-model@r1" in out
    code, out, _ = run(["zoo", "list", "--zoo", str(zoo)], capsys)
    assert code == 0 and "figshare-brain/cli-model@r1" in out and "medzoo_tiny_cnn" in out
    assert "accuracy" in out and "phantom" in out
    code, out, _ = run(["zoo", "list", "--zoo", str(zoo), "--dataset", "all-leukemia"], capsys)
    assert code == 0 and "no entries" in out
    code, out, _ = run(["zoo", "list", "--zoo", str(zoo), "--json"], capsys)
    rows = json.loads(out)
    assert rows[0]["name"] == "cli-model" and rows[0]["ci_low"] <= rows[0]["value"] <= rows[0]["ci_high"]
    dest = tmp_path / "copy"
    code, out, _ = run(["pull", "figshare-brain/cli-model@r1", "--zoo", str(zoo), "--to", str(dest)], capsys)
    assert code == 0 and "verified" in out and (dest / "model.safetensors").is_file()
    # a tampered copy in the zoo is refused with one line and status 2
    weights = zoo / "figshare-brain" / "cli-model" / "r1" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\x00\x00\x00\x00")
    code, out, err = run(["pull", "figshare-brain/cli-model", "--zoo", str(zoo)], capsys)
    assert code == 2 and "sha256" in err and "Traceback" not in err
    code, _, err = run(["pull", "../../etc/passwd", "--zoo", str(zoo)], capsys)
    assert code == 2 and "exactly one '/'" in err


def test_predict_png_and_dicom_from_the_cli(tiny_zoo, tiny_run, tmp_path, capsys):
    from medzoo import datasets

    prepared = json.loads((tiny_run / "run.json").read_text())["prepared"]
    m = datasets.read_manifest(prepared)
    png = tmp_path / "slice.png"
    shutil.copy(f"{prepared}/{m[m['split'] == 'test'].iloc[0]['path']}", png)
    dcm = tmp_path / "slice.dcm"
    _dicom(dcm, np.asarray(Image.open(png).convert("L")).astype(np.uint16) * 16)
    cam = tmp_path / "cam.png"
    code, out, err = run(
        ["predict", "figshare-brain/tiny_cnn", str(png), str(dcm), "--cam", str(cam), "--zoo", str(tiny_zoo)],
        capsys,
    )
    assert code == 0, err
    for label in ("meningioma", "glioma", "pituitary"):
        assert out.count(label) >= 2
    assert "<- top" in out and "warning" not in out
    for k in (0, 1):
        overlay = Image.open(tmp_path / f"cam_{k}.png")
        assert overlay.size == (64, 64) and overlay.mode == "RGB"
    import nibabel as nib

    grey = np.asarray(Image.open(png).convert("L")).astype(np.float32)
    vol = np.stack([np.zeros_like(grey), np.flipud(grey).T, np.zeros_like(grey)], axis=2)  # (x, y, z)
    nii = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(vol, np.eye(4)), nii)
    code, out_nii, err = run(
        ["predict", "figshare-brain/tiny_cnn", str(nii), "--slice", "1", "--zoo", str(tiny_zoo)], capsys
    )
    assert code == 0, err
    assert "axial slice 1 of 3" in out_nii and "<- top" in out_nii and "glioma" in out_nii
    code, out, _ = run(
        ["predict", "figshare-brain/tiny_cnn", str(png), "--json", "--zoo", str(tiny_zoo)], capsys
    )
    (result,) = json.loads(out)
    assert code == 0 and abs(sum(result["probs"].values()) - 1) < 1e-5 and result["has_cam"] is False
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8)
    code, _, err = run(["predict", "figshare-brain/tiny_cnn", str(bad), "--zoo", str(tiny_zoo)], capsys)
    assert code == 2 and "bad.png" in err
    rgb = tmp_path / "rgb.png"
    Image.fromarray(
        np.dstack(
            [np.full((80, 80), 200, np.uint8), np.zeros((80, 80), np.uint8), np.zeros((80, 80), np.uint8)]
        )
    ).save(rgb)
    code, out, _ = run(["predict", "figshare-brain/tiny_cnn", str(rgb), "--zoo", str(tiny_zoo)], capsys)
    assert code == 0 and "warning: colour (RGB)" in out
