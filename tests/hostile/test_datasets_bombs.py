"""Issue 11, class 4 (memory and decompression bombs) in the dataset readers.

Each case is a tiny file whose header declares a huge image. It must be refused
from the header, by path, before anything is decoded: ``check`` lists it as a
problem and ``prepare`` leaves it out; reading it directly raises one
DatasetFormatError naming the file, at once.
"""

from __future__ import annotations

import gzip
import struct
import time
import zlib
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

from medzoo import datasets
from medzoo.cli import main
from medzoo.datasets.imaging import read_image
from medzoo.errors import DatasetFormatError


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return int(exc.value.code or 0)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(side: int = 30000) -> bytes:
    """A complete, valid-looking PNG of a few hundred bytes that declares side x side grey pixels."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 4096, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def jpeg_bomb(side: int = 30000) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, side, side, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + sof + b"\xff\xd9"


def dicom_bomb(path: Path, side: int = 16000) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = side, side, 16, 16, 15
    ds.SamplesPerPixel, ds.PixelRepresentation, ds.PhotometricInterpretation = 1, 0, "MONOCHROME2"
    ds.PixelData = b"\0" * 64
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("kind", ["png", "jpeg", "dicom"])
def test_reading_a_bomb_is_refused_from_its_header(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"bomb.{'dcm' if kind == 'dicom' else kind}"
    if kind == "dicom":
        dicom_bomb(path)
    else:
        path.write_bytes(png_bomb() if kind == "png" else jpeg_bomb())
    t0 = time.perf_counter()
    with pytest.raises(DatasetFormatError, match=r"declares \d+x\d+ = \d+ pixels") as err:
        read_image(path)
    assert time.perf_counter() - t0 < 2.0
    assert str(path) in err.value.message


def test_check_lists_a_png_bomb_by_path_and_prepare_leaves_it_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = datasets.synthesize("chestxray14", tmp_path / "raw", patients=4, seed=0)
    victim = sorted(raw.rglob("*.png"))[0]
    victim.write_bytes(png_bomb())
    rel = victim.relative_to(raw).as_posix()
    assert run(["datasets", "check", "chestxray14", str(raw)]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if rel in line and "30000x30000" in line]
    prepared = tmp_path / "prepared"
    assert run(["datasets", "prepare", "chestxray14", str(raw), str(prepared), "--image-size", "32"]) == 0
    manifest = datasets.read_manifest(prepared)
    assert rel not in set(manifest["source"]) and len(manifest) > 0


def test_a_jpeg_bomb_in_a_class_folder_is_a_problem(tmp_path: Path) -> None:
    raw = datasets.synthesize("all-leukemia", tmp_path / "raw", patients=4, seed=0)
    bomb = raw / "Original" / "Benign" / "WBC-Benign-999.jpg"
    bomb.write_bytes(jpeg_bomb())
    report = datasets.check("all-leukemia", raw)
    assert report.usable
    hits = [p for p in report.problems if p.path == "Original/Benign/WBC-Benign-999.jpg"]
    assert len(hits) == 1 and "30000x30000" in hits[0].message


def test_a_nifti_declaring_a_huge_volume_is_refused_before_decompressing(tmp_path: Path) -> None:
    raw = datasets.synthesize("brats19-grade", tmp_path / "raw", patients=4, seed=0)
    victim = sorted(raw.rglob("*_flair.nii.gz"))[0]
    plain = bytearray(gzip.decompress(victim.read_bytes()))
    plain[40:56] = struct.pack("<8h", 3, 20000, 20000, 2000, 1, 1, 1, 1)  # dim[0..7] of the NIfTI-1 header
    victim.write_bytes(gzip.compress(bytes(plain)))
    report = datasets.check("brats19-grade", raw)
    rel = victim.relative_to(raw).as_posix()
    hits = [p for p in report.problems if p.path == rel]
    assert len(hits) == 1 and "voxels" in hits[0].message
