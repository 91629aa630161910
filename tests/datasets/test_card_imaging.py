"""Dataset card, image IO helpers and the preprocessing steps."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from huggingface_hub import DatasetCard

from medzoo.datasets.card import render_card
from medzoo.datasets.imaging import (
    hamming_matrix,
    perceptual_hash,
    read_image,
    sha256_bytes,
    to_uint8,
    verify_image_bytes,
    write_png,
)
from medzoo.datasets.preprocess import background_mask_lab_kmeans, roi_crop
from medzoo.errors import ConfigError, DatasetFormatError


def test_card_front_matter_counts_protocol_audit(prepared_phantom) -> None:
    out = prepared_phantom("figshare-brain")
    card = DatasetCard.load(out / "README.md")
    assert card.data.to_dict()["medzoo"]["dataset"] == "figshare-brain"
    assert "phantom" in card.data.to_dict()["tags"]
    text = card.text
    assert "PHANTOM DATA" in text and "official split" in text and "Leakage audit" in text
    assert "| test |" in text and "threshold=50" in text and "CC BY 4.0" in text


def test_card_escapes_names() -> None:
    info = {
        "id": "x",
        "title": "<script>alert(1)</script>",
        "task": "multiclass",
        "classes": ["a|b", "<i>"],
        "modality": "m",
        "citation": "c",
        "licence": "l",
        "layout": "y",
        "split_protocol": "patient",
        "seed": 0,
        "counts": {"test": {"a|b": 1, "<i>": 0, "total": 1}},
        "images": 1,
        "patients": 1,
        "preprocessing": {"steps": [], "params": {}},
        "notes": [],
        "warnings": [],
        "leakage_audit": {
            "passed": True,
            "rows": 1,
            "patients": 1,
            "patients_in_two_splits": 0,
            "patient_check_enforced": True,
            "identical_images_in_two_splits": 0,
            "patients_in_two_folds": 0,
            "identical_images_in_two_folds": 0,
        },
    }
    text = render_card(info)
    assert "<script>" not in text.split("---", 2)[2] and "&lt;script&gt;" in text and "a\\|b" in text


def test_to_uint8_windows_robustly() -> None:
    a = np.zeros((50, 50), np.int16)
    a[10:40, 10:40] = 1200
    a[0, 0] = 32000  # one hot pixel must not crush the contrast
    u = to_uint8(a)
    assert u.dtype == np.uint8 and u[20, 20] == 255 and u[45, 45] == 0
    assert (to_uint8(np.full((4, 4), 7.0)) == 0).all()
    assert to_uint8(np.array([[True, False]])).tolist() == [[255, 0]]


def test_read_image_png_jpeg_dicom_and_broken(tmp_path: Path) -> None:
    rgb = np.zeros((30, 20, 3), np.uint8)
    rgb[..., 0] = 200  # red
    sha = write_png(tmp_path / "a.png", rgb)
    assert sha == sha256_bytes((tmp_path / "a.png").read_bytes())
    back = read_image(tmp_path / "a.png")
    assert back.shape == (30, 20, 3) and back[0, 0].tolist() == [200, 0, 0]
    assert read_image(tmp_path / "a.png", grey=True).shape == (30, 20)
    grey16 = (np.arange(64 * 48).reshape(64, 48) * 3).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "b.png"), grey16)
    assert read_image(tmp_path / "b.png").dtype == np.uint8

    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.Rows, ds.Columns = 40, 30
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME1"  # inverted: high = dark
    px = np.zeros((40, 30), np.uint16)
    px[:, 15:] = 4000
    ds.PixelData = px.tobytes()
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    (tmp_path / "c.dcm").write_bytes(buf.getvalue())
    img = read_image(tmp_path / "c.dcm")
    assert img.shape == (40, 30) and img[0, 0] > img[0, 29]

    jpg = cv2.imencode(".jpg", rgb)[1].tobytes()
    assert verify_image_bytes(jpg) is None
    assert "truncated JPEG" in verify_image_bytes(jpg[: len(jpg) // 2])
    assert "empty file" in verify_image_bytes(b"")
    (tmp_path / "d.jpg").write_bytes(b"<html>not an image</html>")
    with pytest.raises(DatasetFormatError, match="d.jpg: not a readable image"):
        read_image(tmp_path / "d.jpg")


def test_perceptual_hash_matches_reencoded_copies_only() -> None:
    rng = np.random.default_rng(0)
    a = cv2.GaussianBlur(rng.integers(0, 255, (120, 120), dtype=np.uint8), (9, 9), 3)
    b = cv2.GaussianBlur(rng.integers(0, 255, (120, 120), dtype=np.uint8), (9, 9), 3)
    a_jpeg = cv2.imdecode(
        cv2.imencode(".jpg", cv2.resize(a, (200, 200)), [cv2.IMWRITE_JPEG_QUALITY, 80])[1], 0
    )
    h = np.stack([perceptual_hash(x) for x in (a, a_jpeg, b)])
    d = hamming_matrix(h[:1], h)[0]
    assert d[0] == 0 and d[1] <= 12 and d[2] > 80


def test_roi_crop_steps_and_validation() -> None:
    img = np.zeros((200, 200), np.uint8)
    cv2.circle(img, (90, 110), 50, 180, -1)
    img[5, 5] = 255  # a speck: eroded away, never the largest contour
    img[190:193, 150:153] = 40  # below threshold 50
    crop, _, (x0, y0, x1, y1) = roi_crop(img, threshold=50, pad=12)
    assert abs(x0 - (40 - 12)) <= 2 and abs(y0 - (60 - 12)) <= 2 and abs(x1 - (141 + 12)) <= 2
    assert crop.shape == (y1 - y0, x1 - x0)
    with pytest.raises(ConfigError, match="blur must be an odd kernel size >= 1, got blur=4"):
        roi_crop(img, blur=4)
    with pytest.raises(ConfigError, match="0 <= threshold <= 255 must hold, got threshold=300"):
        roi_crop(img, threshold=300)
    whole, _, box = roi_crop(np.zeros((30, 40), np.uint8))
    assert whole.shape == (30, 40) and box == (0, 0, 40, 30)


def test_background_mask_keeps_the_stained_cell() -> None:
    rgb = np.full((100, 100, 3), (236, 222, 226), np.uint8)
    cv2.circle(rgb, (30, 30), 12, (214, 150, 160), -1)  # red cell
    cv2.circle(rgb, (65, 60), 18, (92, 52, 128), -1)  # stained lymphoblast
    mask = background_mask_lab_kmeans(rgb, k=3)
    assert mask[60, 65] == 255 and mask[30, 30] == 0 and mask[90, 5] == 0
