"""figshare-brain: Cheng et al.'s 3064 T1-CE slices (233 patients) as MATLAB v7.3 files.

Reader quirks of the figshare release: files are HDF5 behind a 512-byte MATLAB user block
(h5py, never scipy); arrays come back transposed (``.T``); PID is a uint16 char
array; ``tumorMask`` is a logical mask; images are 512x512 or 256x256 int16 (any
size is accepted); ``cvind.mat`` holds the official patient-level 5 folds. Users
extract the download in many ways, so ``*.mat`` files are found recursively, in
the inner zips, or in the outer zip holding the inner zips.
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from medzoo.datasets import matlab
from medzoo.datasets.base import DatasetAdapter, DatasetSpec, PreparedItem, Problem, RawRecord, Scan
from medzoo.datasets.imaging import is_stray, resize_square, size_problem, to_uint8
from medzoo.datasets.preprocess import roi_crop
from medzoo.datasets.readers import iter_files, roi_crop_args, safe_key
from medzoo.errors import DatasetFormatError

CLASSES = ("meningioma", "glioma", "pituitary")  # .mat label 1, 2, 3

SPEC = DatasetSpec(
    id="figshare-brain",
    title="Figshare brain tumour dataset (Cheng et al.)",
    task="multiclass",
    classes=CLASSES,
    modality="MRI (T1-weighted contrast-enhanced, 2D slices)",
    citation="Cheng J. et al., Enhanced Performance of Brain Tumor Classification via Tumor Region "
    "Augmentation and Partition, PLoS ONE 10(10): e0140381, 2015; figshare doi:10.6084/m9.figshare.1512427",
    licence="CC BY 4.0 (figshare release); cite Cheng et al. 2015",
    layouts=(
        "figshare: <n>.mat (MATLAB v7.3) found recursively, or inside brainTumorDataPublic_*.zip, "
        "or inside the outer download zip; cvind.mat with the official 5 folds",
    ),
    split_protocols=("official", "patient", "image"),
    default_split="official",
    has_patient_ids=True,
    has_masks=True,
    primary_metric="accuracy",
    secondary_metrics=("macro_f1",),
    image_size=240,
    channels=1,
    recipe="brain-effnet",
    notes=(
        "official split: cvind.mat's patient-level folds; fold 5 is the held-out test set, folds 1-4 are "
        "cross-validation folds 0-3 (fold 0 = default validation)",
        "the study's own numbers come from an image-level 80/20 split that leaks patients",
    ),
)


class FigshareBrain(DatasetAdapter):
    spec = SPEC
    default_params: dict[str, Any] = {
        "window_low_pct": 0.5,
        "window_high_pct": 99.5,
        "roi_crop": True,
        "threshold": 50,
        "blur": 5,
        "erode": 2,
        "dilate": 2,
        "pad": 12,
    }
    steps = (
        "window: int16 -> uint8 between the window_low_pct/window_high_pct percentiles",
        "roi_crop: threshold, blur x blur Gaussian, erode, dilate, largest external contour, pad, crop",
        "resize: image_size x image_size (area), mask nearest",
    )

    # --- reading -----------------------------------------------------------------------------

    def scan(self, raw: Path) -> Scan:
        problems: list[Problem] = []
        mats, cvind, cvind_source = _split_off_cvind(raw, problems)
        records = _slice_records(raw, mats, cvind, problems)
        records = _check_folds(records, cvind, cvind_source, problems)
        return Scan(records=records, problems=problems, layout=_layout_name(mats))

    def load(self, raw: Path, record: RawRecord, params: dict[str, Any]) -> list[PreparedItem]:
        try:
            data = matlab.read_source(raw, record.source)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise DatasetFormatError(
                f"{record.source}: cannot be read ({exc}); re-extract the download"
            ) from exc
        fields = _read_cjdata(data, record.source, full=True)
        image = to_uint8(
            fields["image"], low_pct=params["window_low_pct"], high_pct=params["window_high_pct"]
        )
        mask = (fields["mask"] > 0).astype(np.uint8) * 255
        if params["roi_crop"]:
            image, mask, _ = roi_crop(image, mask, **roi_crop_args(params))
        size = params["image_size"]
        image = resize_square(image, size)
        mask = (resize_square(mask, size, nearest=True) > 127).astype(np.uint8) * 255
        number = record.extra.get("number")
        key = f"slice-{number:04d}" if number is not None else safe_key(record.source)
        return [PreparedItem(key=key, image=image, mask=mask)]

    # --- phantom -------------------------------------------------------------------------------

    def synthesize(self, out: Path, *, patients: int, seed: int) -> None:
        from medzoo.datasets.sources.figshare_brain.phantom import write_phantom

        write_phantom(out, patients=patients, seed=seed)


# --- reader helpers ----------------------------------------------------------------------------


def _split_off_cvind(raw: Path, problems: list[Problem]) -> tuple[list[str], np.ndarray | None, str]:
    """The slice .mat sources, and the fold of each slice from cvind.mat (None if absent) with its source."""
    mats: list[str] = []
    cvind: np.ndarray | None = None
    cvind_source = ""
    for source in _find_mats(raw, problems):
        if Path(source.split(matlab.SEP)[-1]).name.lower() == "cvind.mat":
            data = _read_bytes(raw, source, problems)
            try:
                if data is not None:
                    cvind, cvind_source = _read_cvind(data), source
            except DatasetFormatError as exc:
                problems.append(Problem(source, exc.message))
            continue
        mats.append(source)
    return mats, cvind, cvind_source


def _slice_records(
    raw: Path, mats: list[str], cvind: np.ndarray | None, problems: list[Problem]
) -> list[RawRecord]:
    """One record per readable slice, in file-number order, each with its official fold when known."""
    records: list[RawRecord] = []
    seen: dict[int, str] = {}
    duplicates = 0
    for source in sorted(mats, key=_sort_key):
        data = _read_bytes(raw, source, problems)
        if data is None:
            continue
        try:
            fields = _read_cjdata(data, source, full=True)
        except DatasetFormatError as exc:
            problems.append(Problem(source, exc.message))
            continue
        number = _number(source)
        if number is not None and number in seen:
            duplicates += 1  # the same slice loose and inside a zip: keep the first (loose copies sort first)
            continue
        if number is not None:
            seen[number] = source
        fold = None
        if cvind is not None and number is not None and 1 <= number <= cvind.size:
            fold = int(cvind[number - 1])
        records.append(
            RawRecord(
                source=source,
                label=fields["label"] - 1,
                labels=(CLASSES[fields["label"] - 1],),
                patient_id=fields["pid"],
                official_fold=fold,
                extra={"number": number, "shape": fields["shape"]},
            )
        )
    if duplicates:
        problems.append(
            Problem(".", f"{duplicates} slice(s) found twice (loose and inside a zip); used one copy of each")
        )
    return records


def _check_folds(
    records: list[RawRecord], cvind: np.ndarray | None, cvind_source: str, problems: list[Problem]
) -> list[RawRecord]:
    """The records, with every official fold dropped when cvind.mat misses some slice.

    Folds that cover only part of the slices would not be the study's folds, so none are used then.
    """
    if cvind is None:
        problems.append(
            Problem(
                "cvind.mat",
                "not found: the official patient-level 5 folds are unavailable; "
                "prepare falls back to a patient-level split",
            )
        )
    elif records and any(r.official_fold is None for r in records):
        missing = sum(r.official_fold is None for r in records)
        problems.append(
            Problem(
                cvind_source,
                f"has {cvind.size} entries but {missing} slice(s) have no fold "
                "(file number missing or beyond cvind); official folds unavailable",
            )
        )
        records = [dataclasses.replace(r, official_fold=None) for r in records]
    return records


def _find_mats(raw: Path, problems: list[Problem]):
    """Yield the source of every .mat file: on disk, in a zip, or in a zip inside a zip."""
    for path, rel in iter_files(raw, suffixes=(".mat", ".zip")):
        if path.suffix.lower() == ".mat":
            yield rel
            continue
        try:
            zf = zipfile.ZipFile(path)
            for source, _zip, member in matlab.iter_zip_members(zf, rel, depth=1):
                if member.lower().endswith(".mat") and not is_stray(member):
                    yield source
        except (zipfile.BadZipFile, OSError) as exc:
            problems.append(Problem(rel, f"not a readable zip ({exc}); re-download or extract it"))


def _read_bytes(raw: Path, source: str, problems: list[Problem]) -> bytes | None:
    try:
        return matlab.read_source(raw, source)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        problems.append(Problem(source, f"cannot be read ({exc}); re-extract the download"))
        return None


def _read_cvind(data: bytes) -> np.ndarray:
    try:
        with matlab.open_h5(data) as f:
            if "cvind" not in f:
                raise DatasetFormatError(f"cvind.mat must hold a dataset /cvind; found {sorted(f.keys())}")
            folds = np.asarray(f["cvind"][()], dtype=np.float64).ravel()
    except OSError as exc:
        raise DatasetFormatError(f"not a MATLAB v7.3 (HDF5) file ({exc}); re-extract cvind.mat") from exc
    if folds.size == 0 or not np.all(np.isin(folds, np.arange(1, 11))):
        raise DatasetFormatError(
            f"cvind values must be fold numbers 1..5, found {np.unique(folds)[:8].tolist()}"
        )
    return folds.astype(int)


def _read_cjdata(data: bytes, source: str, *, full: bool) -> dict[str, Any]:
    """label (1..3), pid, shape, and with ``full`` the image and mask (transposed back)."""
    if matlab.is_mat_v5(data):
        raise DatasetFormatError(f"{source}: a MATLAB v5 file; figshare slices must be MATLAB v7.3 (HDF5)")
    try:
        with matlab.open_h5(data) as f:
            if "cjdata" not in f:
                raise DatasetFormatError(f"{source}: must hold the struct /cjdata; found {sorted(f.keys())}")
            g = f["cjdata"]
            missing = [k for k in ("label", "PID", "image", "tumorMask") if k not in g]
            if missing:
                raise DatasetFormatError(f"{source}: /cjdata lacks {missing}; re-extract the file")
            label_arr = np.asarray(g["label"][()], dtype=np.float64).ravel()
            pid = matlab.decode_char(g["PID"][()])
            out: dict[str, Any] = {"pid": pid, "shape": tuple(reversed(g["image"].shape))}
            _check_declared_shape(source, out["shape"])
            if full:
                out["image"] = np.asarray(g["image"][()]).T
                out["mask"] = np.asarray(g["tumorMask"][()]).T
    except DatasetFormatError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetFormatError(
            f"{source}: not a readable MATLAB v7.3 (HDF5) file ({exc}); "
            "the file is corrupt or truncated, re-extract it"
        ) from exc
    if label_arr.size != 1 or label_arr[0] not in (1.0, 2.0, 3.0):
        raise DatasetFormatError(f"{source}: cjdata.label must be 1, 2 or 3, found {label_arr.tolist()}")
    if not pid:
        raise DatasetFormatError(f"{source}: cjdata.PID is empty; the slice has no patient id")
    if full:
        if out["image"].ndim != 2:
            raise DatasetFormatError(f"{source}: cjdata.image must be 2-D, found shape {out['image'].shape}")
        if out["image"].dtype.kind == "f" and not np.isfinite(out["image"]).any():
            raise DatasetFormatError(
                f"{source}: every pixel of cjdata.image is NaN or infinite; the slice holds no image, "
                "re-extract the file or remove it"
            )
        if out["mask"].shape != out["image"].shape:
            raise DatasetFormatError(
                f"{source}: tumorMask shape {out['mask'].shape} must equal image shape {out['image'].shape}"
            )
    out["label"] = int(label_arr[0])
    return out


def _check_declared_shape(source: str, shape: tuple[int, ...]) -> None:
    """Refuse a degenerate or bomb-sized cjdata.image from its HDF5 shape, before reading its pixels."""
    if len(shape) == 2:
        why = size_problem(shape[1], shape[0])
        if why is not None:
            raise DatasetFormatError(f"{source}: cjdata.image: {why}")


def _number(source: str) -> int | None:
    stem = Path(source.split(matlab.SEP)[-1]).stem
    return int(stem) if stem.isdigit() else None


def _sort_key(source: str) -> tuple[int, int, str]:
    n = _number(source)
    return (source.count(matlab.SEP), n if n is not None else 1 << 30, source)


def _layout_name(mats: list[str]) -> str:
    zipped = sum(matlab.SEP in s for s in mats)
    if zipped and zipped < len(mats):
        return "figshare: loose .mat files and zips"
    return "figshare: inner zips" if zipped else "figshare: extracted .mat files"
