"""BraTS 2019 training set, glioma grade (LGG vs HGG) from multi-sequence MRI slices.

The grade is the parent folder (``HGG``/``LGG``); ``name_mapping.csv`` and
``survival_data.csv`` are optional and only cross-checked. Volumes are read with
nibabel whatever their dtype or size; per patient the study's N axial slices
around the slice with the largest tumour area (seg > 0) are kept for every
sequence, with the tumour mask, and the patient id travels with every slice so
splits stay patient-level.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from medzoo.datasets.base import DatasetAdapter, DatasetSpec, PreparedItem, Problem, RawRecord, Scan
from medzoo.datasets.imaging import (
    axial_slice,
    canonical_volume,
    is_stray,
    resize_square,
    scale_volume,
    size_problem,
)
from medzoo.datasets.readers import (
    check_window_params,
    files_named_like_folders,
    find_named,
    read_csv,
    safe_key,
)
from medzoo.errors import ConfigError, DatasetFormatError

SEQUENCES = ("t1", "t1ce", "t2", "flair")
GRADES = {"lgg": 0, "hgg": 1}
SEG_LABELS = frozenset({0, 1, 2, 4})

SPEC = DatasetSpec(
    id="brats19-grade",
    title="BraTS 2019 glioma grade (LGG vs HGG), multi-sequence MRI slices",
    task="binary",
    classes=("lgg", "hgg"),
    modality="MRI (T1, T1-CE, T2, FLAIR)",
    citation=(
        "Menze BH et al. The Multimodal Brain Tumor Image Segmentation Benchmark (BRATS). IEEE TMI 34(10), 2015; "
        "Bakas S et al. Advancing The Cancer Genome Atlas glioma MRI collections with expert segmentation labels "
        "and radiomic features. Sci Data 4, 170117 (2017); Bakas S et al. arXiv:1811.02629 (2018)"
    ),
    licence="BraTS 2019 data: registration with CBICA required; research use; cite the BraTS papers",
    layouts=(
        "brats-training: MICCAI_BraTS_2019_Data_Training/{HGG,LGG}/<ID>/<ID>_{flair,t1,t1ce,t2,seg}.nii.gz "
        "(+ optional name_mapping.csv, survival_data.csv)",
    ),
    split_protocols=("patient", "image"),
    default_split="patient",
    has_patient_ids=True,
    has_masks=True,
    primary_metric="auc",
    secondary_metrics=("accuracy", "sensitivity", "specificity", "macro_f1"),
    image_size=224,
    channels=1,
    recipe="glioma-googlenet",
    sequences=SEQUENCES,
    notes=(
        "One row per slice and sequence; the study trains one model per sequence and votes over T1, T2 and FLAIR.",
        "Report patient-level results too (vote over a patient's slices): slices of one patient are not independent.",
    ),
)


class Brats19Grade(DatasetAdapter):
    spec = SPEC
    min_phantom_patients = 4  # 2 per grade
    default_params: dict[str, Any] = {
        "slices": 20,  # axial slices kept per patient, centred on the largest tumour area (the study's 20)
        "sequences": list(SEQUENCES),
        "window_low_pct": 0.5,  # per-volume intensity window over brain (non-zero) voxels -> uint8
        "window_high_pct": 99.5,
        "image_size": 224,  # side of the prepared slice (the study's GoogLeNet input)
    }
    steps = (
        "slices: the `slices` axial slices centred on the slice with the largest tumour area (seg > 0)",
        "window: each volume -> uint8 between the window_low_pct/window_high_pct percentiles of its brain voxels",
        "resize: image_size x image_size per slice and sequence; tumour mask (seg > 0) nearest",
    )

    def scan(self, raw: Path) -> Scan:
        raw = Path(raw)
        problems: list[Problem] = []
        records: list[RawRecord] = []
        grade_dirs = sorted(p for p in raw.rglob("*") if p.is_dir() and p.name.lower() in GRADES)
        if not grade_dirs:
            problems.append(
                Problem(
                    ".",
                    "a BraTS 2019 training download must hold HGG/ and LGG/ folders (grade = folder), found "
                    f"neither under {raw}; extract MICCAI_BraTS_2019_Data_Training.zip here",
                    fatal=True,
                )
            )
            return Scan(records=[], problems=problems, layout="brats-training")
        problems += files_named_like_folders(
            Path(), [p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file()], GRADES, str.lower
        )
        found: dict[str, str] = {}
        for grade_dir in grade_dirs:
            grade = grade_dir.name.lower()
            for patient_dir in sorted(p for p in grade_dir.iterdir() if p.is_dir() and not is_stray(p)):
                record = _patient_record(raw, patient_dir, grade, problems)
                if record is None:
                    continue
                if record.patient_id in found:
                    problems.append(
                        Problem(
                            patient_dir.relative_to(raw).as_posix(),
                            f"patient ids must be unique, {record.patient_id} is also under {found[record.patient_id]}; "
                            "keep one copy",
                        )
                    )
                    continue
                found[record.patient_id] = patient_dir.relative_to(raw).as_posix()
                records.append(record)
        grades = {r.patient_id: SPEC.classes[r.label] for r in records}
        _cross_check_mapping(raw, grades, problems)
        _cross_check_survival(raw, grades, problems)
        return Scan(records=records, problems=problems, layout="brats-training")

    def load(self, raw: Path, record: RawRecord, params: dict[str, Any]) -> list[PreparedItem]:
        p = _check_params(params)
        raw = Path(raw)
        files = record.extra["files"]
        seg_path = raw / files["seg"]
        seg = _read_volume(seg_path)
        labels = set(np.unique(seg).tolist())  # float segs compare equal to their integer labels
        if not labels <= SEG_LABELS:
            found = [int(v) if float(v).is_integer() else v for v in sorted(labels)]
            raise DatasetFormatError(
                f"{seg_path}: segmentation labels must be in {{0, 1, 2, 4}}, found {found}; "
                "is this a probability map or a different release? use the official seg file"
            )
        tumour = seg > 0
        zs = tumour_slices(tumour, int(p["slices"]))
        if zs is None:
            raise DatasetFormatError(
                f"{seg_path}: the segmentation must mark a tumour (seg > 0) to choose slices, found none; "
                "re-download the patient or remove its folder"
            )
        size = int(p["image_size"])
        lo, hi = float(p["window_low_pct"]), float(p["window_high_pct"])
        items: list[PreparedItem] = []
        for seq in p["sequences"]:
            vol_path = raw / files[seq]
            vol = _read_volume(vol_path)
            if vol.shape != seg.shape:
                raise DatasetFormatError(
                    f"{vol_path}: every sequence must have the seg volume's shape {seg.shape}, found {vol.shape}; "
                    "the volumes are not co-registered, re-download the patient"
                )
            vol8 = scale_volume(vol, low_pct=lo, high_pct=hi)
            for z in zs:
                image = resize_square(axial_slice(vol8, z), size)
                mask = (
                    resize_square(axial_slice(tumour, z).astype(np.uint8), size, nearest=True) > 0
                ).astype(np.uint8)
                items.append(
                    PreparedItem(
                        key=f"{safe_key(record.patient_id)}_z{z:03d}_{seq}",
                        image=image,
                        mask=mask * 255,
                        # image_group: an image-level split keeps a slice's sequences together (the study's
                        # "same permutation for every sequence")
                        columns={
                            "sequence": seq,
                            "slice": int(z),
                            "image_group": f"{record.patient_id}/z{z}",
                        },
                    )
                )
        return items

    def synthesize(self, out: Path, *, patients: int, seed: int) -> None:
        from medzoo.datasets.sources.brats19.phantom import write_phantom

        write_phantom(Path(out), patients=patients, seed=seed)


# ---------------------------------------------------------------------- geometry and intensity


def tumour_slices(tumour: np.ndarray, n: int) -> list[int] | None:
    """The ``n`` axial indices around the slice of largest tumour area (fewer when the volume is thinner)."""
    area = tumour.reshape(-1, tumour.shape[2]).sum(axis=0)
    if area.max() == 0:
        return None
    depth = tumour.shape[2]
    n = min(n, depth)
    peak = int(np.argmax(area))
    start = min(max(peak - n // 2, 0), depth - n)
    return list(range(start, start + n))


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    p = {**Brats19Grade.default_params, **params}
    if int(p["slices"]) < 1:
        raise ConfigError(f"slices >= 1 must hold, got slices={p['slices']}")
    unknown = [s for s in p["sequences"] if s not in SEQUENCES]
    if unknown or not p["sequences"]:
        raise ConfigError(f"sequences must be a non-empty subset of {list(SEQUENCES)}, got {p['sequences']}")
    check_window_params(p)
    return p


# ---------------------------------------------------------------------- files


def _patient_record(raw: Path, patient_dir: Path, grade: str, problems: list[Problem]) -> RawRecord | None:
    pid = patient_dir.name
    rel_dir = patient_dir.relative_to(raw).as_posix()
    files: dict[str, str] = {}
    for path in sorted(patient_dir.iterdir()):
        m = re.search(r"_(flair|t1ce|t1|t2|seg)\.nii(\.gz)?$", path.name, re.IGNORECASE)
        if not path.is_file() or m is None:
            continue
        kind = m.group(1).lower()
        if kind in files:
            problems.append(
                Problem(path.relative_to(raw).as_posix(), f"a second {kind} volume for {pid}; keep one")
            )
            continue
        files[kind] = path.relative_to(raw).as_posix()
    missing = [k for k in (*SEQUENCES, "seg") if k not in files]
    if missing:
        problems.append(
            Problem(
                rel_dir,
                f"a BraTS patient folder must hold <ID>_{{flair,t1,t1ce,t2,seg}}.nii.gz, missing "
                f"{', '.join(missing)}; re-extract the patient or remove the folder",
            )
        )
        return None
    bad = False
    for rel in files.values():
        why = verify_nifti(raw / rel)
        if why is not None:
            problems.append(Problem(rel, f"{why}; re-download the patient"))
            bad = True
    if bad:
        return None
    label = GRADES[grade]
    return RawRecord(
        source=rel_dir,
        label=label,
        labels=(SPEC.classes[label],),
        patient_id=pid,
        extra={"files": files, "grade_folder": patient_dir.parent.name},
    )


def verify_nifti(path: Path) -> str | None:
    """Why ``path`` is not a complete NIfTI-1 volume, or None; reads the header and the gzip trailer only.

    A truncated .nii.gz loses its trailer, whose ISIZE (uncompressed length mod 2**32)
    then disagrees with the length the header promises.
    """
    import nibabel as nib

    try:
        img = nib.load(str(path))
        header = img.header
        shape = tuple(int(s) for s in img.shape)
        need = (
            int(getattr(img.dataobj, "offset", header.get_data_offset()))
            + int(np.prod(shape)) * header.get_data_dtype().itemsize
        )
    except Exception as exc:  # nibabel raises many types on broken headers
        return f"not a readable NIfTI file ({type(exc).__name__}: {exc})"
    if len(shape) != 3:
        return f"a BraTS volume must be 3-D, found shape {shape}"
    why = size_problem(shape[0], shape[1], shape[2])  # checked before a single voxel is decompressed
    if why is not None:
        return why.replace("image", "volume").replace("pixels", "voxels")
    size = os.path.getsize(path)
    if path.name.lower().endswith(".gz"):
        with open(path, "rb") as fh:
            fh.seek(max(size - 4, 0))
            (isize,) = struct.unpack("<I", fh.read(4).rjust(4, b"\0"))
        if isize != need % 2**32:
            return f"truncated or corrupt .nii.gz: the header promises {need} bytes, the gzip trailer says {isize}"
    elif size < need:
        return f"truncated .nii: the header promises {need} bytes, the file holds {size}"
    return None


def _read_volume(path: Path) -> np.ndarray:
    import nibabel as nib

    why = verify_nifti(path)  # the header's dims and the file's size, before decompressing a voxel
    if why is not None:
        raise DatasetFormatError(f"{path}: {why}")
    # canonical (RAS+) first: axis 2 is then superior-inferior whatever the file's affine
    data = canonical_volume(nib.load(str(path)), name=str(path))
    if data.ndim != 3:
        raise DatasetFormatError(f"{path}: a BraTS volume must be 3-D, found shape {data.shape}")
    if data.dtype.kind == "f" and not np.isfinite(data).any():
        raise DatasetFormatError(f"{path}: every voxel is NaN or infinite; re-download the patient")
    return data


def _optional_csv(raw: Path, name: str, problems: list[Problem]) -> tuple[str, list[str], list[dict]] | None:
    """(relative path, header, rows) of the optional CSV ``name``; None when absent or unreadable."""
    paths = find_named(raw, name)
    if not paths:
        return None
    rel = paths[0].relative_to(raw).as_posix()
    try:
        header, rows = read_csv(paths[0], where=rel)
    except DatasetFormatError as exc:
        problems.append(Problem(rel, f"{exc.message.removeprefix(rel + ': ')}; not cross-checked"))
        return None
    return rel, header, rows


def _cross_check_mapping(raw: Path, grades: dict[str, str], problems: list[Problem]) -> None:
    """name_mapping.csv, if present, must agree with the folders on every patient it names."""
    table = _optional_csv(raw, "name_mapping.csv", problems)
    if table is None:
        return
    rel, header, rows = table
    id_col = next((h for h in header if "2019" in h and "id" in h), None)
    if "grade" not in header or id_col is None:
        problems.append(
            Problem(
                rel,
                f"expected columns Grade and BraTS_2019_subject_ID, found {', '.join(header)}; not cross-checked",
            )
        )
        return
    for n, row in enumerate(rows, start=1):
        pid, grade = row.get(id_col, ""), row.get("grade", "").lower()
        if _known(rel, n, pid, grades, problems) and grade != grades[pid]:
            problems.append(
                Problem(
                    rel,
                    f"row {n}: {pid} is graded {row.get('grade')!r} here but lies in the {grades[pid].upper()} folder; "
                    "the folder is used, check which is right",
                )
            )


def _cross_check_survival(raw: Path, grades: dict[str, str], problems: list[Problem]) -> None:
    """survival_data.csv, if present, covers HGG patients only, all of them present."""
    table = _optional_csv(raw, "survival_data.csv", problems)
    if table is None:
        return
    rel, header, rows = table
    id_col = next((h for h in header if h.replace("_", "") in ("brats19id", "bratsid", "id")), None)
    if id_col is None:
        problems.append(
            Problem(rel, f"expected a BraTS19ID column, found {', '.join(header)}; not cross-checked")
        )
        return
    for n, row in enumerate(rows, start=1):
        pid = row.get(id_col, "")
        if _known(rel, n, pid, grades, problems) and grades[pid] != "hgg":
            problems.append(
                Problem(
                    rel, f"row {n}: survival data covers HGG patients only, but {pid} lies in the LGG folder"
                )
            )


def _known(rel: str, n: int, pid: str, grades: dict[str, str], problems: list[Problem]) -> bool:
    """True when row ``n`` of ``rel`` names a patient folder; else records the dangling row."""
    if pid in grades:
        return True
    problems.append(Problem(rel, f"row {n}: {pid} points nowhere: no patient folder of that name"))
    return False
