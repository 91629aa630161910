"""figshare-brain: the MATLAB v7.3 reader on files written from the datasets' published descriptions (not by the phantom code),
broken inputs, and the prepared phantom (official cvind folds, masks, class-dependent tumour sites)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from medzoo import datasets
from medzoo.errors import DatasetError


def _user_block() -> bytes:
    text = b"MATLAB 7.3 MAT-file, Platform: PCWIN64, Created on: Thu Apr 02 10:32:11 2015 HDF5 schema 1.00 ."
    return (text.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM").ljust(512, b"\x00")


def write_v73(path: Path, *, label: int, pid: str, image: np.ndarray, mask: np.ndarray) -> None:
    """A Cheng et al. slice as MATLAB writes it: user block, /cjdata struct, column-major arrays."""
    with h5py.File(path, "w", userblock_size=512) as f:
        g = f.create_group("cjdata")
        g.attrs["MATLAB_class"] = np.bytes_("struct")
        items = {
            "label": (np.array([[float(label)]]), "double"),
            "PID": (np.array([[ord(c) for c in pid]], np.uint16), "char"),  # MATLAB 1xk char -> h5py (k,1)
            "image": (image.astype(np.int16), "int16"),
            "tumorBorder": (np.array([[10.0, 12.0, 11.0, 13.0]]), "double"),
            "tumorMask": (mask.astype(np.uint8), "logical"),
        }
        for name, (arr, cls) in items.items():
            d = g.create_dataset(name, data=arr.T)
            d.attrs["MATLAB_class"] = np.bytes_(cls)
    with open(path, "r+b") as fh:
        fh.write(_user_block())


def _slice(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    img = np.zeros((size, size), np.int16)
    yy, xx = np.mgrid[0:size, 0:size]
    head = ((yy - size / 2) / (0.42 * size)) ** 2 + ((xx - size / 2) / (0.36 * size)) ** 2 <= 1
    img[head] = 700 + rng.integers(0, 50, head.sum())
    # an asymmetric tumour: in MATLAB's (row, col) orientation it sits top-left of centre
    mask = ((yy - size * 0.35) ** 2 + (xx - size * 0.3) ** 2) <= (size * 0.06) ** 2
    img[mask] = 1800
    return img, mask


@pytest.fixture
def hand_made(tmp_path: Path) -> Path:
    """Loose .mat files (512 and 256), one inner zip, cvind.mat, README and the usual litter."""
    raw = tmp_path / "raw"
    (raw / "brainTumorDataPublic_1-766").mkdir(parents=True)
    rng = np.random.default_rng(1)
    specs = [(1, 1, "100360", 512), (2, 2, "100360", 512), (3, 3, "MR029", 256), (4, 2, "112649", 256)]
    for n, label, pid, size in specs[:3]:
        img, mask = _slice(size, rng)
        write_v73(raw / "brainTumorDataPublic_1-766" / f"{n}.mat", label=label, pid=pid, image=img, mask=mask)
    img, mask = _slice(256, rng)
    write_v73(tmp_path / "4.mat", label=2, pid="112649", image=img, mask=mask)
    with zipfile.ZipFile(raw / "brainTumorDataPublic_767-1532.zip", "w") as zf:
        zf.write(tmp_path / "4.mat", arcname="4.mat")
    with h5py.File(raw / "cvind.mat", "w", userblock_size=512) as f:
        f.create_dataset("cvind", data=np.array([[1.0, 1.0, 2.0, 3.0]]).T).attrs["MATLAB_class"] = np.bytes_(
            "double"
        )
    with open(raw / "cvind.mat", "r+b") as fh:
        fh.write(_user_block())
    (raw / "README.txt").write_text("figshare brain tumour dataset\n")
    (raw / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    return raw


def test_reader_decodes_v73_fields_and_transposes(hand_made: Path) -> None:
    report = datasets.check("figshare-brain", hand_made)
    assert report.usable
    by_n = {r.extra["number"]: r for r in report.records}
    assert sorted(by_n) == [1, 2, 3, 4]
    assert [by_n[n].labels[0] for n in (1, 2, 3, 4)] == ["meningioma", "glioma", "pituitary", "glioma"]
    assert by_n[1].patient_id == "100360" and by_n[3].patient_id == "MR029"
    assert [by_n[n].official_fold for n in (1, 2, 3, 4)] == [1, 1, 2, 3]
    assert by_n[4].source == "brainTumorDataPublic_767-1532.zip!4.mat"
    assert by_n[1].extra["shape"] == (512, 512) and by_n[3].extra["shape"] == (256, 256)
    assert [str(p) for p in report.problems] == [".DS_Store: stray OS file; ignored (safe to delete)"]

    adapter = datasets.adapter("figshare-brain")
    params = {**adapter.default_params, "image_size": 64, "roi_crop": False}
    item = adapter.load(hand_made, by_n[1], params)[0]
    assert item.image.shape == (64, 64) and item.image.dtype == np.uint8
    ys, xs = np.nonzero(item.mask)
    # tumour stays top-left (rows ~35 %, cols ~30 %): the reader undid MATLAB's column-major transpose
    assert abs(ys.mean() / 64 - 0.35) < 0.05 and abs(xs.mean() / 64 - 0.30) < 0.05
    assert item.image[ys, xs].mean() > 200  # the bright tumour is under its mask


def test_roi_crop_keeps_the_head_and_the_mask_aligned(hand_made: Path) -> None:
    adapter = datasets.adapter("figshare-brain")
    rec = next(r for r in datasets.check("figshare-brain", hand_made).records if r.extra["number"] == 1)
    item = adapter.load(hand_made, rec, {**adapter.default_params, "image_size": 96})[0]
    # after the crop the head fills the frame: few black rows/cols remain
    assert (item.image.max(axis=1) > 0).mean() > 0.8 and (item.image.max(axis=0) > 0).mean() > 0.8
    ys, xs = np.nonzero(item.mask)
    assert item.image[ys, xs].mean() > item.image[item.image > 0].mean()


def test_broken_inputs_are_reported_by_path(hand_made: Path) -> None:
    data = (hand_made / "brainTumorDataPublic_1-766" / "2.mat").read_bytes()
    (hand_made / "brainTumorDataPublic_1-766" / "2.mat").write_bytes(data[: len(data) // 3])  # truncated
    (hand_made / "5.mat").write_bytes(b"MATLAB 5.0 MAT-file, Platform: GLNXA64" + b"\x00" * 200)
    (hand_made / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    (hand_made / "empty").mkdir()
    rng = np.random.default_rng(2)
    img, mask = _slice(64, rng)
    write_v73(hand_made / "6.mat", label=1, pid="77", image=img, mask=mask)  # beyond cvind's 4 entries
    write_v73(hand_made / "7.mat", label=4, pid="1", image=img, mask=mask)  # unknown label
    report = datasets.check("figshare-brain", hand_made)
    msgs = {p.path: p.message for p in report.problems}
    assert "MATLAB v7.3" in msgs["brainTumorDataPublic_1-766/2.mat"]
    assert "MATLAB v5" in msgs["5.mat"]
    assert "not a readable zip" in msgs["broken.zip"]
    assert "empty folder" in msgs["empty"]
    assert "label must be 1, 2 or 3, found [4.0]" in msgs["7.mat"]
    assert "no fold" in msgs["cvind.mat"]
    assert report.usable and sorted(r.extra["number"] for r in report.records) == [1, 3, 4, 6]
    assert all(r.official_fold is None for r in report.records)


def test_unusable_folder_cannot_be_prepared(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "notes.txt").write_text("nothing here")
    report = datasets.check("figshare-brain", tmp_path / "raw")
    assert not report.usable
    with pytest.raises(DatasetError, match="fatal problem"):
        datasets.prepare("figshare-brain", tmp_path / "raw", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_phantom_native_layout(phantom_raw) -> None:
    raw = phantom_raw("figshare-brain")
    zips = sorted(p.name for p in raw.glob("brainTumorDataPublic_*.zip"))
    assert len(zips) == 4 and zips[0].startswith("brainTumorDataPublic_1-")
    assert (raw / "cvind.mat").is_file() and (raw / "README.txt").is_file()
    with zipfile.ZipFile(raw / zips[0]) as zf:
        first = zf.read("1.mat")
    assert first.startswith(b"MATLAB 7.3 MAT-file") and first[512:520] == b"\x89HDF\r\n\x1a\n"
    report = datasets.check("figshare-brain", raw)
    assert report.usable and not report.problems
    assert all(n > 0 for n in report.counts.values())


def test_prepared_phantom_official_folds_masks_and_sites(prepared_phantom) -> None:
    out = prepared_phantom("figshare-brain")
    info = datasets.read_info(out)
    m = datasets.read_manifest(out)
    assert info["split_protocol"] == "official" and info["data_kind"] == "phantom"
    assert info["leakage_audit"]["passed"]
    # cvind fold 5 is the test set; folds 1-4 become CV folds 0-3, fold 0 the validation split
    assert set(m.loc[m.split == "test", "fold"]) == {-1}
    assert set(m.loc[m.split != "test", "fold"]) == {0, 1, 2, 3}
    assert set(m.loc[m.fold == 0, "split"]) == {"val"}
    assert (m.groupby("patient_id")["split"].nunique() == 1).all()
    assert (m["mask_path"] != "").all() and all((out / p).is_file() for p in m["mask_path"])
    assert info["image_size"] == 240

    import cv2

    def centroid(p: str) -> tuple[float, float]:
        ys, xs = np.nonzero(cv2.imread(str(out / p), cv2.IMREAD_GRAYSCALE))
        return ys.mean() / 240, xs.mean() / 240

    cents = {
        c: np.array([centroid(p) for p in m.loc[m.label == i, "mask_path"]])
        for i, c in enumerate(info["classes"])
    }
    off_centre = {c: np.hypot(v[:, 0] - 0.5, v[:, 1] - 0.5).mean() for c, v in cents.items()}
    # meningioma hugs the dura, pituitary sits at the sella (centre-bottom), glioma in between
    assert off_centre["meningioma"] > off_centre["glioma"] > off_centre["pituitary"] * 0.9
    assert cents["pituitary"][:, 0].mean() > 0.6 and abs(cents["pituitary"][:, 1].mean() - 0.5) < 0.1


def test_phantom_is_deterministic_per_seed(tmp_path: Path) -> None:
    def tree(root: Path) -> dict[str, bytes]:
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
        }

    a = tree(datasets.synthesize("figshare-brain", tmp_path / "a", patients=3, seed=5))
    b = tree(datasets.synthesize("figshare-brain", tmp_path / "b", patients=3, seed=5))
    c = tree(datasets.synthesize("figshare-brain", tmp_path / "c", patients=3, seed=6))
    assert a == b
    assert a != c


def test_outer_download_zip_with_inner_zips_is_read_in_place(hand_made: Path, tmp_path: Path) -> None:
    """The unextracted download: one zip holding the inner zips and cvind.mat."""
    raw = tmp_path / "download"
    raw.mkdir()
    with zipfile.ZipFile(raw / "1512427.zip", "w") as outer:
        outer.write(
            hand_made / "brainTumorDataPublic_767-1532.zip", arcname="brainTumorDataPublic_767-1532.zip"
        )
        outer.write(hand_made / "cvind.mat", arcname="cvind.mat")
    report = datasets.check("figshare-brain", raw)
    assert [r.source for r in report.records] == ["1512427.zip!brainTumorDataPublic_767-1532.zip!4.mat"]
    assert report.records[0].official_fold == 3 and report.records[0].patient_id == "112649"
    adapter = datasets.adapter("figshare-brain")
    item = adapter.load(raw, report.records[0], {**adapter.default_params, "image_size": 32})[0]
    assert item.key == "slice-0004" and item.image.shape == (32, 32) and item.mask.max() == 255
