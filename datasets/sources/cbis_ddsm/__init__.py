"""CBIS-DDSM mass ROIs, benign vs malignant, in both native layouts.

The CSVs name files by a path grammar (``<case>/<StudyUID>/<SeriesUID>/00000x.dcm``)
that the TCIA download does not follow, and ``000000`` vs ``000001`` does not say
which file is the crop and which the mask. So files are joined to CSV rows by the
UIDs in their DICOM headers (or by the ``jpeg/<SeriesInstanceUID>/`` folder of the
JPEG re-release), and the mask is told from the crop by content: the mask has the
full mammogram's size (and is binary), the crop is small. The study's ROI is cut
from the full mammogram around the mask at a fixed size, not taken from the crop.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medzoo.datasets.base import DatasetAdapter, DatasetSpec, PreparedItem, Problem, RawRecord, Scan
from medzoo.datasets.imaging import decode_dicom, header_problem, read_image, resize_square, size_problem
from medzoo.datasets.readers import check_window_params, find_named, iter_files, read_csv, safe_key
from medzoo.errors import ConfigError, DatasetFormatError

SPEC = DatasetSpec(
    id="cbis-ddsm-mass",
    title="CBIS-DDSM mass ROIs (benign vs malignant)",
    task="binary",
    classes=("benign", "malignant"),
    modality="mammography",
    citation=(
        "Lee RS, Gimenez F, Hoogi A, Miyake KK, Gorovoy M, Rubin DL. A curated mammography data set for use "
        "in computer-aided detection and diagnosis research. Sci Data 4, 170177 (2017); data: The Cancer "
        "Imaging Archive, doi:10.7937/K9/TCIA.2016.7O02S9CY"
    ),
    licence="TCIA data usage policy, CC BY 3.0: cite the data set and the paper; do not try to re-identify patients",
    layouts=(
        "tcia-dicom: CBIS-DDSM/<descriptive folders>/*.dcm + mass_case_description_{train,test}_set.csv "
        "(files joined to CSV rows by their DICOM UIDs)",
        "jpeg: csv/ (the case CSVs + dicom_info.csv) + jpeg/<SeriesInstanceUID>/*.jpg",
    ),
    split_protocols=("official", "patient"),
    default_split="official",
    has_patient_ids=True,
    has_masks=True,
    primary_metric="auc",
    secondary_metrics=("accuracy", "sensitivity", "specificity", "macro_f1"),
    image_size=299,
    channels=1,
    recipe="mammo-xception",
    notes=(
        "Masses only: calcification cases are not pooled with masses (patients cross between them).",
        "ROIs are cut from the full mammogram around the lesion mask at a fixed size, not the dataset's own crops.",
    ),
)

CSV_NAMES = {
    "mass_case_description_train_set.csv": "train",
    "mass_case_description_test_set.csv": "test",
}
PATHOLOGY = {"MALIGNANT": 1, "BENIGN": 0, "BENIGN_WITHOUT_CALLBACK": 0}
REQUIRED_COLUMNS = (
    "patient_id",
    "abnormality_id",
    "pathology",
    "image_file_path",
    "cropped_image_file_path",
    "roi_mask_file_path",
)
_UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}


def normalise_column(name: str) -> str:
    """``"breast density"`` and ``"breast_density"`` name one column; so do ``"Image View"`` and ``"image view"``."""
    return re.sub(r"[\s_]+", "_", name.strip().lower())


@dataclass(frozen=True)
class _Image:
    """One image file of the raw download with what its header (or folder) says about it."""

    rel: str
    series_uid: str
    study_uid: str  # "" in the JPEG layout
    patient_id: str  # DICOM PatientID (e.g. "Mass-Training_P_00001_LEFT_CC"); "" when unknown
    description: str  # SeriesDescription; "" when unknown
    rows: int
    cols: int


class CbisDdsmMass(DatasetAdapter):
    spec = SPEC
    min_phantom_patients = 4  # 2 per split
    default_params: dict[str, Any] = {
        "roi_size_px": None,  # fixed ROI side in pixels of the full mammogram; None -> roi_fraction
        "roi_fraction": 0.2,  # ROI side as a share of the mammogram's shorter side (~600 px = 30 mm at 50 um)
        "grow_to_fit_mass": True,  # a mass larger than the window gets a window that holds it whole
        "fit_margin": 0.1,  # margin around such a mass, as a share of its larger side
        "window_low_pct": 0.5,  # intensity window (percentiles of the whole mammogram) -> uint8
        "window_high_pct": 99.5,
        "image_size": 299,  # side of the prepared ROI (the study's Xception input)
    }
    steps = (
        "join: CSV rows to image files by SeriesInstanceUID (DICOM headers or jpeg/<uid>/); mask = full-size binary",
        "window: full mammogram -> uint8 between the window_low_pct/window_high_pct percentiles",
        "roi_cut: square window of roi_size_px (or roi_fraction of the shorter side) centred on the mask's "
        "bounding box, zero-padded at borders, grown to fit larger masses; mask cut the same way",
        "resize: image_size x image_size (area down, cubic up), mask nearest",
    )

    # ------------------------------------------------------------------ scan
    def scan(self, raw: Path) -> Scan:
        raw = Path(raw)
        problems: list[Problem] = []
        csvs = _find_case_csvs(raw, problems)
        dicom_info = _find_named(raw, "dicom_info.csv")
        if dicom_info is not None:
            layout = "jpeg"
            index = _index_jpegs(raw, dicom_info, problems)
        else:
            layout = "tcia-dicom"
            index = _index_dicoms(raw, problems)
        records: list[RawRecord] = []
        for split in ("train", "test"):
            if split in csvs:
                records += _join_csv(raw, csvs[split], split, index, problems)
        records = _drop_repeated_cases(records, problems)
        both = sorted(
            {r.patient_id for r in records if r.official_split == "train"}
            & {r.patient_id for r in records if r.official_split == "test"}
        )
        if both:
            problems.append(
                Problem(
                    csvs["test"].relative_to(raw).as_posix(),
                    f"the official split must be patient-disjoint, {len(both)} patient(s) are in both CSVs "
                    f"({', '.join(both[:5])}); the leakage audit will stop an official-split prepare: "
                    "use --split patient or the CSVs of one release",
                )
            )
        return Scan(records=records, problems=problems, layout=layout)

    # ------------------------------------------------------------------ load
    def load(self, raw: Path, record: RawRecord, params: dict[str, Any]) -> list[PreparedItem]:
        p = _check_params(params)
        raw = Path(raw)
        full_path, mask_path = raw / record.extra["full"], raw / record.extra["mask"]
        full8 = _read_pixels(full_path, (float(p["window_low_pct"]), float(p["window_high_pct"])))
        mask = _read_mask(mask_path, full8.shape)
        ys, xs = np.nonzero(mask)
        if ys.size == 0:
            raise DatasetFormatError(
                f"{mask_path}: the ROI mask must mark the mass, found an empty mask; re-download the series "
                f"or drop row {record.extra['row']} of {record.extra['csv']}"
            )
        side = roi_side(full8.shape, (ys.max() - ys.min() + 1, xs.max() - xs.min() + 1), p)
        cy, cx = (ys.min() + ys.max() + 1) / 2.0, (xs.min() + xs.max() + 1) / 2.0
        roi = cut_square(full8, (cy, cx), side)
        roi_mask = cut_square(mask, (cy, cx), side)
        size = int(p["image_size"])
        image = resize_square(roi, size)
        out_mask = (resize_square(roi_mask, size, nearest=True) > 0).astype(np.uint8) * 255
        return [PreparedItem(key=record.extra["key"], image=image, mask=out_mask)]

    # ------------------------------------------------------------------ synthesize
    def synthesize(self, out: Path, *, patients: int, seed: int) -> None:
        from medzoo.datasets.sources.cbis_ddsm.phantom import write_phantom

        write_phantom(Path(out), patients=patients, seed=seed)


# ---------------------------------------------------------------------- geometry


def roi_side(shape: tuple[int, ...], mass_hw: tuple[int, int], params: dict[str, Any]) -> int:
    """The fixed window side for one mammogram, grown only when the mass would not fit."""
    if params["roi_size_px"] is not None:
        side = int(params["roi_size_px"])
    else:
        side = round(float(params["roi_fraction"]) * min(shape[:2]))
    if params["grow_to_fit_mass"]:
        side = max(side, math.ceil(max(mass_hw) * (1.0 + float(params["fit_margin"]))))
    return max(side, 1)


def cut_square(image: np.ndarray, centre: tuple[float, float], side: int) -> np.ndarray:
    """A ``side`` x ``side`` window centred on ``centre`` (row, col); zeros where it leaves the image."""
    top = int(round(centre[0] - side / 2.0))
    left = int(round(centre[1] - side / 2.0))
    out = np.zeros((side, side) + image.shape[2:], image.dtype)
    h, w = image.shape[:2]
    y0, y1 = max(top, 0), min(top + side, h)
    x0, x1 = max(left, 0), min(left + side, w)
    if y1 > y0 and x1 > x0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = image[y0:y1, x0:x1]
    return out


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    p = {**CbisDdsmMass.default_params, **params}
    if p["roi_size_px"] is not None and int(p["roi_size_px"]) < 8:
        raise ConfigError(f"roi_size_px >= 8 must hold (or null), got roi_size_px={p['roi_size_px']}")
    if not 0.0 < float(p["roi_fraction"]) <= 1.0:
        raise ConfigError(f"0 < roi_fraction <= 1 must hold, got roi_fraction={p['roi_fraction']}")
    if float(p["fit_margin"]) < 0:
        raise ConfigError(f"fit_margin >= 0 must hold, got fit_margin={p['fit_margin']}")
    check_window_params(p)
    return p


# ---------------------------------------------------------------------- CSVs


def _find_named(raw: Path, name: str) -> Path | None:
    hits = find_named(raw, name)
    return hits[0] if hits else None


def _find_case_csvs(raw: Path, problems: list[Problem]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for name, split in CSV_NAMES.items():
        path = _find_named(raw, name)
        if path is None:
            problems.append(
                Problem(
                    name,
                    f"the mass case CSV {name} must be present (it holds the labels and the official "
                    f"{split} split), found none under {raw}; download it from the CBIS-DDSM TCIA page",
                    fatal=True,
                )
            )
        else:
            found[split] = path
    return found


def read_case_csv(path: Path, *, where: str | None = None) -> tuple[list[str], list[dict[str, str]]]:
    """Rows of a case CSV as dicts with normalised column names; values stripped, ``NA`` kept as a string.

    The csv module handles the CRLF line ends and the quoted last field with its
    embedded newline; stripping removes that newline from every path.
    """
    return read_csv(path, normalise=normalise_column, where=where)


def _split_csv_path(value: str) -> tuple[str, str, str] | None:
    """``case/StudyUID/SeriesUID/file.dcm`` -> (case, study, series); None when it does not parse."""
    parts = [s for s in value.strip().replace("\\", "/").split("/") if s]
    if len(parts) < 4:
        return None
    return parts[-4], parts[-3], parts[-2]


def _join_csv(
    raw: Path, csv_path: Path, split: str, index: dict[str, list[_Image]], problems: list[Problem]
) -> list[RawRecord]:
    rel_csv = csv_path.relative_to(raw).as_posix()
    try:
        header, rows = read_case_csv(csv_path, where=rel_csv)
    except DatasetFormatError as exc:
        problems.append(Problem(rel_csv, _unprefixed(exc, rel_csv), fatal=True))
        return []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        problems.append(
            Problem(
                rel_csv,
                f"a mass case CSV must have the columns {', '.join(REQUIRED_COLUMNS)}; missing "
                f"{', '.join(missing)} (found {', '.join(header)}); is this a calc CSV or a different file?",
                fatal=True,
            )
        )
        return []
    records: list[RawRecord] = []
    for n, row in enumerate(rows, start=1):
        record = _row_record(n, row, split=split, rel_csv=rel_csv, index=index, problems=problems)
        if record is not None:
            records.append(record)
    return records


def _row_record(
    n: int,
    row: dict[str, str],
    *,
    split: str,
    rel_csv: str,
    index: dict[str, list[_Image]],
    problems: list[Problem],
) -> RawRecord | None:
    """Row ``n`` joined to its image files by UID, or None after recording why it cannot be."""
    where = f"row {n} (patient {row.get('patient_id', '?')}, abnormality {row.get('abnormality_id', '?')})"
    pathology = row["pathology"].upper()
    if pathology not in PATHOLOGY:
        problems.append(
            Problem(
                rel_csv,
                f"{where}: pathology must be one of {', '.join(PATHOLOGY)}, got {row['pathology']!r}; "
                "fix the row or remove it",
            )
        )
        return None
    full_ref = _split_csv_path(row["image_file_path"])
    crop_ref = _split_csv_path(row["cropped_image_file_path"])
    mask_ref = _split_csv_path(row["roi_mask_file_path"])
    if full_ref is None or crop_ref is None or mask_ref is None:
        problems.append(
            Problem(
                rel_csv,
                f"{where}: file paths must read <case>/<StudyInstanceUID>/<SeriesInstanceUID>/<file>, got "
                f"{row['image_file_path']!r}, {row['roi_mask_file_path']!r}; re-download the CSV",
            )
        )
        return None
    full = _full_image(where, row, full_ref, rel_csv=rel_csv, index=index, problems=problems)
    if full is None:
        return None
    found = _mask_and_crop(
        where, row, full, crop_ref, mask_ref, rel_csv=rel_csv, index=index, problems=problems
    )
    if found is None:
        return None
    mask, crop = found
    label = PATHOLOGY[pathology]
    return _record(
        n, row, label=label, case=full_ref[0], split=split, rel_csv=rel_csv, full=full, mask=mask, crop=crop
    )


def _full_image(
    where: str,
    row: dict[str, str],
    full_ref: tuple[str, str, str],
    *,
    rel_csv: str,
    index: dict[str, list[_Image]],
    problems: list[Problem],
) -> _Image | None:
    """The full mammogram of the row's series (the largest "full" image), or None with the reason.

    A PatientID that disagrees with the CSV case is only warned about: the join is by UID.
    """
    fulls = _series(index, full_ref)
    if not fulls:
        problems.append(
            Problem(
                rel_csv,
                f"{where}: image file path {row['image_file_path']} points nowhere: no image with "
                f"SeriesInstanceUID {full_ref[2]} under the raw folder; download that series",
            )
        )
        return None
    full = max(fulls, key=lambda im: (im.description.lower().startswith("full"), im.rows * im.cols))
    if full.patient_id and full.patient_id != full_ref[0]:
        problems.append(
            Problem(
                full.rel,
                f"PatientID {full.patient_id!r} should equal the CSV case {full_ref[0]!r} ({where} of "
                f"{rel_csv}); the file was joined by its SeriesInstanceUID, check that it is the right image",
            )
        )
    return full


def _mask_and_crop(
    where: str,
    row: dict[str, str],
    full: _Image,
    crop_ref: tuple[str, str, str],
    mask_ref: tuple[str, str, str],
    *,
    rel_csv: str,
    index: dict[str, list[_Image]],
    problems: list[Problem],
) -> tuple[_Image, str] | None:
    """The ROI mask and the crop's path ("" if none) from the two ROI series, or None with the reason.

    File names do not say which file is the crop and which the mask, so both series are searched
    and the image of the full mammogram's size is taken as the mask.
    """
    candidates = {
        im.rel: im for im in _series(index, crop_ref) + _series(index, mask_ref) if im.rel != full.rel
    }
    mask = _pick_mask(full, list(candidates.values()))
    if mask is None:
        problems.append(
            Problem(
                rel_csv,
                f"{where}: ROI mask file path {row['roi_mask_file_path']} points nowhere: the series "
                f"{mask_ref[2]} / {crop_ref[2]} hold no image of the full mammogram's size "
                f"{full.rows}x{full.cols} (the mask); download the ROI series",
            )
        )
        return None
    crop = next((im.rel for im in candidates.values() if im.rel != mask.rel), "")
    return mask, crop


def _record(
    n: int,
    row: dict[str, str],
    *,
    label: int,
    case: str,
    split: str,
    rel_csv: str,
    full: _Image,
    mask: _Image,
    crop: str,
) -> RawRecord:
    """The record of a fully joined row; ``extra`` keeps what prepare and the report need."""
    return RawRecord(
        source=full.rel,
        label=label,
        labels=(SPEC.classes[label],),
        patient_id=row["patient_id"],
        official_split=split,
        extra={
            "key": safe_key(f"{case}_{row['abnormality_id']}"),
            "full": full.rel,
            "mask": mask.rel,
            "crop": crop,
            "csv": rel_csv,
            "row": n,
            "pathology": row["pathology"],
            "abnormality_id": row["abnormality_id"],
            "mass_shape": row.get("mass_shape", ""),
            "mass_margins": row.get("mass_margins", ""),
            "breast_density": row.get("breast_density", ""),
            "view": row.get("image_view", ""),
            "laterality": row.get("left_or_right_breast", ""),
        },
    )


def _drop_repeated_cases(records: list[RawRecord], problems: list[Problem]) -> list[RawRecord]:
    """Rows describing one case and abnormality twice would collide in prepare: the first row is used.

    Found here, so that ``check`` reports what ``prepare`` would otherwise refuse.
    """
    seen: dict[tuple[str, str], RawRecord] = {}
    kept: list[RawRecord] = []
    for r in records:  # within one CSV; a case in both CSVs is the official split's leak, reported below
        first = seen.setdefault((r.extra["csv"], r.extra["key"]), r)
        if first is not r:
            problems.append(
                Problem(
                    r.extra["csv"],
                    f"row {r.extra['row']}: case {r.extra['key']} is described again (first: row "
                    f"{first.extra['row']} of {first.extra['csv']}); the later row is not used",
                )
            )
            continue
        kept.append(r)
    return kept


def _series(index: dict[str, list[_Image]], ref: tuple[str, str, str]) -> list[_Image]:
    _case, study, series = ref
    return [im for im in index.get(series, []) if not study or not im.study_uid or im.study_uid == study]


def _pick_mask(full: _Image, candidates: list[_Image]) -> _Image | None:
    """The candidate of the full mammogram's size (within 2%, a few masks are off by some rows)."""
    best, best_err = None, 0.02
    for im in candidates:
        err = max(abs(im.rows - full.rows) / full.rows, abs(im.cols - full.cols) / full.cols)
        if err <= best_err:
            best, best_err = im, err
    return best


def _unprefixed(exc: DatasetFormatError, rel: str) -> str:
    """The message of ``exc`` without the file name that the Problem shows already."""
    return exc.message.removeprefix(f"{rel}: ")


# ---------------------------------------------------------------------- image index


def _index_dicoms(raw: Path, problems: list[Problem]) -> dict[str, list[_Image]]:
    """SeriesInstanceUID -> images, read from DICOM headers (the folder names are not trusted)."""
    import pydicom

    index: dict[str, list[_Image]] = {}
    for path, rel in iter_files(raw, suffixes=(".dcm",)):
        try:
            with open(path, "rb") as fh:
                ds = pydicom.dcmread(fh, stop_before_pixels=True)
                pixel_offset = fh.tell()
            rows, cols = int(ds.Rows), int(ds.Columns)
            frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
            series, study = str(ds.SeriesInstanceUID), str(ds.StudyInstanceUID)
        except Exception as exc:  # pydicom raises many types on broken files
            problems.append(
                Problem(rel, f"not a readable DICOM file ({type(exc).__name__}: {exc}); re-download it")
            )
            continue
        why = size_problem(cols, rows, frames)
        if why is not None:
            problems.append(Problem(rel, why))
            continue
        syntax = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", ""))
        if syntax in _UNCOMPRESSED:
            need = rows * cols * int(getattr(ds, "SamplesPerPixel", 1)) * int(ds.BitsAllocated) // 8
            element_header = 8 if syntax == "1.2.840.10008.1.2" else 12  # implicit vs explicit VR
            have = os.path.getsize(path) - pixel_offset - element_header
            if have < need:
                problems.append(
                    Problem(
                        rel,
                        f"truncated DICOM: pixel data needs {need} bytes, the file holds {max(have, 0)}; re-download it",
                    )
                )
                continue
        index.setdefault(series, []).append(
            _Image(
                rel=rel,
                series_uid=series,
                study_uid=study,
                patient_id=str(getattr(ds, "PatientID", "")),
                description=str(getattr(ds, "SeriesDescription", "")),
                rows=rows,
                cols=cols,
            )
        )
    return index


def _index_jpegs(raw: Path, dicom_info: Path, problems: list[Problem]) -> dict[str, list[_Image]]:
    """SeriesInstanceUID -> images of the JPEG re-release (``jpeg/<SeriesInstanceUID>/*.jpg``)."""
    from PIL import Image

    descriptions: dict[str, tuple[str, str]] = {}
    rel_info = dicom_info.relative_to(raw).as_posix()
    try:
        _header, rows = read_case_csv(dicom_info, where=rel_info)
    except DatasetFormatError as exc:
        problems.append(Problem(rel_info, _unprefixed(exc, rel_info)))
        rows = []
    for row in rows:
        parts = row.get("image_path", "").replace("\\", "/").split("/")
        if len(parts) >= 2:
            descriptions["/".join(parts[-2:])] = (row.get("seriesdescription", ""), row.get("patientid", ""))
    index: dict[str, list[_Image]] = {}
    for path, rel in iter_files(raw, suffixes=(".jpg", ".jpeg")):
        if path.parent.parent.name.lower() != "jpeg":
            continue
        with open(path, "rb") as fh:
            head = fh.read(3)
            fh.seek(max(os.path.getsize(path) - 1024, 0))
            tail = fh.read()
        if head != b"\xff\xd8\xff" or b"\xff\xd9" not in tail:
            why = (
                "not a JPEG file"
                if head != b"\xff\xd8\xff"
                else "truncated JPEG: no end-of-image marker (FFD9)"
            )
            problems.append(Problem(rel, f"{why}; re-download or re-extract the file"))
            continue
        try:
            with Image.open(path) as im:  # reads the header only
                cols, rows_ = im.size
        except Exception as exc:  # PIL raises many types on broken files
            problems.append(Problem(rel, f"not a readable JPEG ({exc}); re-download it"))
            continue
        why = size_problem(cols, rows_)
        if why is not None:
            problems.append(Problem(rel, why))
            continue
        series = path.parent.name
        desc, pid = descriptions.get(f"{series}/{path.name}", ("", ""))
        index.setdefault(series, []).append(_Image(rel, series, "", pid, desc, rows_, cols))
    return index


# ---------------------------------------------------------------------- pixels


def _read_pixels(path: Path, window_pct: tuple[float, float] | None = None) -> np.ndarray:
    """One grey uint8 frame: DICOM through medzoo's one DICOM decode (the file's LUTs, else the
    ``window_pct`` percentiles, else min-max; MONOCHROME1 inverted after), JPEG as grey uint8."""
    if path.suffix.lower() != ".dcm":
        return read_image(path, grey=True)
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 20)
            why = header_problem(head)
            data = head + fh.read() if why is None else b""
    except OSError as exc:
        raise DatasetFormatError(f"{path}: cannot be read ({exc.strerror}); check the path") from exc
    if why is not None:
        raise DatasetFormatError(f"{path}: {why}")
    dicom = decode_dicom(data, name=str(path), fallback_pct=window_pct)
    if dicom.pixels.ndim != 2 or dicom.frames != 1:
        raise DatasetFormatError(
            f"{path}: a mammogram must be one grey frame, found {dicom.frames} frame(s) of shape "
            f"{dicom.pixels.shape}"
        )
    return dicom.pixels


def _read_mask(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The ROI mask as uint8 {0,1}, aligned with the full mammogram."""
    import cv2

    arr = _read_pixels(path)
    if path.suffix.lower() == ".dcm":
        values = np.unique(arr)
        if values.size > 2:
            raise DatasetFormatError(
                f"{path}: an ROI mask must be binary, found {values.size} distinct values "
                f"({values[:5].tolist()}...); this is a cropped image, not a mask: check the CSV row's series"
            )
        mask = (arr > values.min()).astype(np.uint8) if values.size == 2 else np.zeros(arr.shape, np.uint8)
    else:  # JPEG blurs the edges of the binary mask
        mask = (arr > 127).astype(np.uint8)
    if mask.shape != tuple(shape[:2]):
        mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return mask
