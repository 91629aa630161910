"""One imaging path: a DICOM or NIfTI reaches the model at prediction exactly as dataset preparation saw it.

The DICOM files are written here with pydicom (MONOCHROME1 with rescale and a window; a VOI LUT Sequence),
the NIfTI volumes with nibabel under flipped and permuted affines; each goes through the datasets' reader
(what ``prepare`` calls) and through ``predict``'s reader, and the arrays and model tensors must be equal.
"""

from __future__ import annotations

import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medzoo.datasets import imaging
from medzoo.datasets.base import ADAPTERS
from medzoo.errors import DatasetFormatError, InputImageError
from medzoo.zoo.inference import imageio

STORED = np.arange(40 * 40, dtype=np.uint16).reshape(40, 40) % 1000  # stored values 0..999


def dicom_file(
    path: Path,
    stored: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    rescale: tuple[float, float] | None = None,
    window: tuple[float, float] | None = None,
    voi_lut: list[int] | None = None,
) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if voi_lut is not None:
        item = Dataset()
        item.add_new(0x00283002, "US", [len(voi_lut), 0, 8])  # LUTDescriptor: entries, first value, bits
        item.add_new(0x00283006, "US", voi_lut)  # LUTData
        ds.VOILUTSequence = [item]
    ds.PixelData = stored.astype(np.uint16).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    path.write_bytes(buf.getvalue())
    return path


def both_paths(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(what prepare's readers decode, what predict decodes), asserting the model tensors agree too."""
    prepared = imaging.read_image(path)
    predicted = imageio.read_image(path).pixels
    pre = imageio.Preprocess(input_size=(3, 32, 32), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert pre(prepared).equal(pre(predicted))
    return prepared, predicted


def linear_window(x: float, center: float, width: float) -> float:
    """DICOM PS3.3 C.11.2.1.2.1 (LINEAR) onto 0..255."""
    return float(np.clip(((x - (center - 0.5)) / (width - 1) + 0.5) * 255.0, 0, 255))


def test_monochrome1_with_rescale_and_window_is_identical_and_inverted_after_the_luts(tmp_path: Path) -> None:
    # modality values 2 * stored - 100, i.e. -100..1898; the window [200, 600) in modality units
    path = dicom_file(
        tmp_path / "m1.dcm", STORED, photometric="MONOCHROME1", rescale=(2, -100), window=(400, 400)
    )
    prepared, predicted = both_paths(path)
    np.testing.assert_array_equal(prepared, predicted)
    assert prepared.dtype == np.uint8 and prepared.shape == (40, 40)
    at = {int(v): tuple(np.argwhere(np.equal(STORED, v))[0]) for v in (0, 250, 700)}
    # stored 250 -> 400 = the centre: mid-grey, then MONOCHROME1 inverts the windowed value
    assert prepared[at[250]] == 255 - int(linear_window(400, 400, 400) + 0.5) == 127
    # stored 0 -> -100, below the window: black after the LUTs, white once inverted (low = bright in MONO1)
    assert prepared[at[0]] == 255 and prepared[at[700]] == 0
    # inverting the stored values before the rescale (the old order) would put stored 250 at
    # 2 * (999 - 250) - 100 = 1398, far above the window, and give 255 there
    assert prepared[at[250]] != 255


def test_voi_lut_sequence_wins_over_the_window_in_both_paths(tmp_path: Path) -> None:
    lut = [(i * i) // 255 for i in range(256)]  # a non-linear VOI LUT, 8-bit output
    stored = STORED % 256
    path = dicom_file(tmp_path / "lut.dcm", stored, rescale=(1, 0), window=(10, 5), voi_lut=lut)
    prepared, predicted = both_paths(path)
    np.testing.assert_array_equal(prepared, predicted)
    where = tuple(np.argwhere(stored == 128)[0])
    assert prepared[where] == lut[128] == 64  # the LUT's value, not the (10, 5) window's 255
    assert "VOI LUT" in " ".join(imageio.read_image(path).notes)


def test_without_a_voi_the_window_is_min_max(tmp_path: Path) -> None:
    path = dicom_file(tmp_path / "plain.dcm", STORED, rescale=(0.5, 10))
    prepared, predicted = both_paths(path)
    np.testing.assert_array_equal(prepared, predicted)
    assert prepared[tuple(np.argwhere(STORED == 0)[0])] == 0
    assert prepared[tuple(np.argwhere(STORED == 999)[0])] == 255


def test_ybr_is_converted_to_rgb_once_and_multi_frame_gives_the_first_frame(tmp_path: Path) -> None:
    from pydicom import dcmread
    from pydicom.pixels import convert_color_space

    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, np.arange(16)[None] * 10, 40
    path = dicom_file(tmp_path / "ybr.dcm", np.zeros((16, 16)))
    ds = dcmread(path)
    ds.SamplesPerPixel, ds.PlanarConfiguration, ds.PhotometricInterpretation = 3, 0, "YBR_FULL"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = convert_color_space(rgb, "RGB", "YBR_FULL").tobytes()
    ds.save_as(path)
    prepared, predicted = both_paths(path)
    np.testing.assert_array_equal(prepared, predicted)
    assert prepared.shape == (16, 16, 3) and np.abs(prepared.astype(int) - rgb).max() <= 1  # not twice
    frames = np.stack([np.full((16, 16), v, np.uint16) for v in (100, 2000, 4000)])
    frames[0, :8] = 0
    path = dicom_file(tmp_path / "frames.dcm", frames[0])
    ds = dcmread(path)
    ds.NumberOfFrames, ds.PixelData = 3, frames.tobytes()
    ds.save_as(path)
    prepared, predicted = both_paths(path)
    np.testing.assert_array_equal(prepared, predicted)
    assert prepared.shape == (16, 16) and set(np.unique(prepared)) == {0, 255}  # frame 0: 0 and 100


def test_dicom_header_bombs_are_refused_before_decoding_in_both_paths(tmp_path: Path) -> None:
    path = dicom_file(tmp_path / "odd.dcm", STORED)
    data = bytearray(path.read_bytes())
    # BitsAllocated (0028,0100) US 16 -> 13: no DICOM image has 13-bit allocation
    tag = bytes.fromhex("2800 0001".replace(" ", "")) + b"US" + (2).to_bytes(2, "little")
    at = bytes(data).index(tag) + len(tag)
    data[at : at + 2] = (13).to_bytes(2, "little")
    with pytest.raises(DatasetFormatError, match="BitsAllocated=13"):
        imaging.decode_image(bytes(data), name="odd.dcm")
    with pytest.raises(InputImageError, match="BitsAllocated=13"):
        imageio.read_image(bytes(data), filename="odd.dcm")


# ---------------------------------------------------------------------- NIfTI

SIDE, DEPTH = 24, 16


def patient_volumes() -> tuple[np.ndarray, np.ndarray]:
    """(brain, seg) in canonical RAS+ voxel order: an asymmetric binary brain (an L shape) and a tumour."""
    brain = np.zeros((SIDE, SIDE, DEPTH), np.float32)
    brain[3:20, 2:8, :] = 700.0  # the L's foot: towards the patient's right and posterior
    brain[3:9, 2:22, :] = 700.0  # the L's stem
    seg = np.zeros(brain.shape, np.uint8)
    seg[4:8, 10:15, 6:11] = 2
    seg[4:9, 10:16, 8] = 2  # the largest tumour area: slice 8
    seg[5:7, 11:13, 8] = 1
    return brain, seg


def write_patient(root: Path, pid: str, to_file, affine: np.ndarray) -> Path:
    """A BraTS patient whose voxels are stored as ``to_file(canonical)`` under ``affine``."""
    folder = root / "HGG" / pid
    folder.mkdir(parents=True)
    brain, seg = patient_volumes()
    for k, seq in enumerate(("flair", "t1", "t1ce", "t2")):
        img = nib.Nifti1Image(np.ascontiguousarray(to_file(brain * (k + 1))), affine)
        nib.save(img, str(folder / f"{pid}_{seq}.nii.gz"))
    nib.save(nib.Nifti1Image(np.ascontiguousarray(to_file(seg)), affine), str(folder / f"{pid}_seg.nii.gz"))
    return folder


#: (voxel order as stored, affine) pairs that all describe the same patient
ORIENTATIONS = {
    "ras": (lambda v: v, np.eye(4)),
    "lps": (lambda v: v[::-1, ::-1, :], np.diag([-1.0, -1.0, 1.0, 1.0])),  # BraTS' own storage
    # stored as (S, P, L): axis 0 superior, axis 1 towards posterior, axis 2 towards left
    "permuted": (
        lambda v: np.transpose(v[:, ::-1, :], (2, 1, 0)),
        np.array([[0, 0, 1, 0], [0, -1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], float),
    ),
}


def test_nifti_prepare_and_predict_agree_whatever_the_affine(tmp_path: Path) -> None:
    adapter = ADAPTERS.get("brats19-grade")
    prepared: dict[str, dict[int, np.ndarray]] = {}
    for name, (to_file, affine) in ORIENTATIONS.items():
        raw = tmp_path / name
        folder = write_patient(raw, "BraTS19_X_1", to_file, affine)
        [record] = adapter.scan(raw).records
        items = adapter.load(raw, record, {"slices": 3, "image_size": SIDE, "sequences": ["t1"]})
        prepared[name] = {i.columns["slice"]: i.image for i in items}
        assert sorted(prepared[name]) == [7, 8, 9]  # axis 2 is superior-inferior in every orientation
        for z, image in prepared[name].items():
            pred = imageio.read_image(folder / "BraTS19_X_1_t1.nii.gz", slice_index=z).pixels
            np.testing.assert_array_equal(image, pred, err_msg=f"{name}, slice {z}")
    for name in ORIENTATIONS:
        for z in prepared["lps"]:
            np.testing.assert_array_equal(prepared[name][z], prepared["lps"][z], err_msg=name)
    # anterior at the top, the patient's left on the image's left: the L's stem (patient right) is on
    # the image's right, its foot (posterior) at the bottom
    image = prepared["permuted"][8] > 0
    assert image[:, -4:].any() and not image[:, :2].any()
    assert image[-4:, :].sum() > image[:4, :].sum()


def test_nifti_bomb_refused_from_the_header_in_predict() -> None:
    header = nib.Nifti1Header()
    header.set_data_shape((20000, 20000, 2000))
    header.set_data_dtype(np.uint8)
    data = header.binaryblock + b"\0" * 4  # vox_offset 352: the header and the extension flag, no voxels
    with pytest.raises(InputImageError, match="voxels"):
        imageio.read_image(data, filename="bomb.nii")
