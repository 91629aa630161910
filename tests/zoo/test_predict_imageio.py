"""Reading images for prediction: formats by magic bytes, medical windowing, clear errors on bad files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from medzoo.errors import InputImageError
from medzoo.zoo.inference.imageio import Preprocess, read_image


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def dicom_bytes(arr: np.ndarray, *, modality="MR", photometric="MONOCHROME2", window=None) -> bytes:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = arr.astype(np.uint16).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_png_grey_rgb_and_16bit():
    grey = np.tile(np.arange(64, dtype=np.uint8)[None] * 4, (32, 1))
    img = read_image(_png(grey), filename="g.png")
    assert img.format == "png" and img.pixels.shape == (32, 64) and img.is_grey
    np.testing.assert_array_equal(img.pixels, grey)
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 0] = 200
    img = read_image(_png(rgb), filename="wrong-extension.dcm")  # magic bytes win over the name
    assert img.format == "png" and img.pixels.shape == (20, 30, 3) and not img.is_grey
    deep = np.arange(40 * 40, dtype=np.uint16).reshape(40, 40) * 40
    img = read_image(_png(deep))
    assert img.pixels.dtype == np.uint8 and img.pixels.max() == 255 and img.pixels.min() == 0


def test_jpeg_from_path(tmp_path):
    path = tmp_path / "smear.jpg"
    Image.fromarray(np.full((50, 40, 3), (180, 60, 120), np.uint8)).save(path, quality=95)
    img = read_image(path)
    assert img.format == "jpeg" and img.pixels.shape == (50, 40, 3) and img.source == str(path)


def test_dicom_window_modality_and_monochrome1():
    arr = np.linspace(0, 4000, 48 * 48).reshape(48, 48)
    img = read_image(dicom_bytes(arr, modality="MG"), filename="a.dcm")
    assert img.format == "dicom" and img.modality == "MG" and img.pixels.shape == (48, 48)
    assert img.pixels[0, 0] == 0 and img.pixels[-1, -1] == 255
    windowed = read_image(dicom_bytes(arr, window=(1000, 1000)))
    assert windowed.pixels[-1, -1] == 255 and windowed.pixels[0, 0] == 0
    assert (windowed.pixels == 255).mean() > 0.5  # everything above 1500 saturates
    inverted = read_image(dicom_bytes(arr, photometric="MONOCHROME1"))
    assert inverted.pixels[0, 0] == 255 and "MONOCHROME1" in " ".join(inverted.notes)


def test_nifti_slice_with_most_signal(tmp_path):
    import nibabel as nib

    vol = np.zeros((24, 20, 9), np.float32)
    vol[4:20, 4:16, 6] = 100.0
    vol[8:10, 8:10, 2] = 50.0
    path = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(vol, np.eye(4)), path)
    img = read_image(path)
    assert img.format == "nifti" and img.pixels.shape == (20, 24)
    assert "slice 6 of 9" in img.notes[0]
    img2 = read_image(path.read_bytes(), filename="x.nii.gz", slice_index=2)
    assert "slice 2" in img2.notes[0]
    # one intensity scale for the whole volume, as BraTS preparation uses: the fainter slice stays fainter
    assert img2.pixels.max() < img.pixels.max() == 255
    with pytest.raises(InputImageError, match="0 <= slice < 9"):
        read_image(path, slice_index=9)


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "empty"),
        (b"hello world, not an image" * 4, "not a PNG, JPEG, DICOM or NIfTI"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "cannot be decoded"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 10, "cannot be decoded"),
        (b"\x1f\x8b\x08\x00garbage", "gzip"),
    ],
)
def test_bad_files_raise_input_image_error_naming_the_file(data, match):
    with pytest.raises(InputImageError, match=match) as info:
        read_image(data, filename="upload.bin")
    assert "upload.bin" in str(info.value) or data == b""


def test_truncated_png_and_missing_file(tmp_path):
    good = _png(np.zeros((64, 64), np.uint8))
    with pytest.raises(InputImageError, match="trunc.png"):
        read_image(good[: len(good) // 2], filename="trunc.png")
    with pytest.raises(InputImageError, match="nope.png"):
        read_image(tmp_path / "nope.png")


def test_preprocess_resizes_repeats_grey_and_normalises():
    pre = Preprocess(input_size=(3, 32, 48), mean=(0.5, 0.5, 0.5), std=(0.5, 0.25, 0.5))
    x = pre(np.full((10, 20), 255, np.uint8))
    assert tuple(x.shape) == (3, 32, 48)
    assert float(x[0].mean()) == pytest.approx(1.0) and float(x[1].mean()) == pytest.approx(2.0)
    with pytest.raises(InputImageError):
        pre(np.zeros((4, 4), np.float32))
