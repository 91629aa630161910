"""NIH ChestX-ray14: 14-label chest radiographs with the official patient-level split lists.

Both Data_Entry CSVs are read positionally after a header lookup: the v2020 file
leaves the commas inside ``OriginalImage[Width,Height]`` unquoted, and the older
file ends every line with a comma; only the first seven columns are used, and those
come before any bracket. Images are found by file name wherever they were
extracted (``images/`` or the nested ``images_001/images/`` of the Kaggle copy).
BBox_List_2017.csv, when present, becomes a box mask for Grad-CAM checks.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from medzoo.datasets.base import DatasetAdapter, DatasetSpec, PreparedItem, Problem, RawRecord, Scan
from medzoo.datasets.imaging import PNG_SIGNATURE, header_problem, read_image, resize_square
from medzoo.datasets.readers import find_named, iter_files, read_text_lines
from medzoo.errors import ConfigError, DatasetFormatError

FINDINGS = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Effusion",
    "Emphysema",
    "Fibrosis",
    "Hernia",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pleural_Thickening",
    "Pneumonia",
    "Pneumothorax",
)
NO_FINDING = "No Finding"
#: names the bounding-box list uses for the same findings
BBOX_ALIASES = {"Infiltrate": "Infiltration", "Pleural Thickening": "Pleural_Thickening"}
CSV_NAMES = ("data_entry_2017_v2020.csv", "data_entry_2017.csv")  # preferred first

SPEC = DatasetSpec(
    id="chestxray14",
    title="NIH ChestX-ray14 (14 thoracic findings, multi-label)",
    task="multilabel",
    classes=FINDINGS,
    modality="chest X-ray",
    citation=(
        "Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM. ChestX-ray8: Hospital-scale chest X-ray database "
        "and benchmarks on weakly-supervised classification and localization of common thorax diseases. "
        "CVPR 2017"
    ),
    licence="NIH Clinical Center: unrestricted use; acknowledge the NIH Clinical Center and cite the paper",
    layouts=(
        "nih: Data_Entry_2017_v2020.csv (or Data_Entry_2017.csv), train_val_list.txt, test_list.txt, "
        "images/*.png; optional BBox_List_2017.csv",
        "kaggle: the same files with images nested as images_001/images/*.png ... images_012/images/*.png",
    ),
    split_protocols=("official", "patient"),
    default_split="official",
    has_patient_ids=True,
    has_masks=False,
    primary_metric="mean_auroc",
    secondary_metrics=("macro_f1", "per_class_auroc"),
    image_size=224,
    channels=1,
    recipe="cxr-aernet",
    notes=(
        "Labels were text-mined from reports (estimated accuracy above 90%), not read by radiologists.",
        "14-label multi-label task with the official patient-level lists; 4-class or image-level numbers do not compare.",
        "Only some images carry bounding boxes (BBox_List_2017.csv); masks exist for those alone.",
    ),
)


class ChestXray14(DatasetAdapter):
    spec = SPEC
    min_phantom_patients = 4  # 2 per split
    default_params: dict[str, Any] = {
        "image_size": 224,  # side of the prepared grey image (the study's input)
        "bbox_reference_size": 1024,  # BBox_List coordinates refer to the 1024 x 1024 release PNGs
    }
    steps = (
        "read: PNG as grey (RGBA and 16-bit copies included)",
        "resize: image_size x image_size (area down, cubic up)",
        "boxes: BBox_List_2017.csv boxes (scaled by image side / bbox_reference_size) -> mask, where present",
    )

    def scan(self, raw: Path) -> Scan:
        raw = Path(raw)
        problems: list[Problem] = []
        images = _index_pngs(raw, problems)
        csv_path = next((p for name in CSV_NAMES for p in find_named(raw, name)), None)
        if csv_path is None:
            problems.append(
                Problem(
                    "Data_Entry_2017_v2020.csv",
                    f"the label file Data_Entry_2017_v2020.csv (or Data_Entry_2017.csv) must be present, found "
                    f"neither under {raw}; download it from the NIH box folder",
                    fatal=True,
                )
            )
            return Scan(records=[], problems=problems, layout="nih")
        splits = _read_split_lists(raw, problems)
        boxes = _read_boxes(raw, problems)
        rows = read_data_entry(csv_path, raw, problems)
        records: list[RawRecord] = []
        listed: set[str] = set()
        for row in rows:
            record = _row_record(row, images, splits, boxes, listed, problems)
            if record is not None:
                records.append(record)
        _report_unused(images, listed, boxes, records, problems)
        nested = any(re.search(r"(^|/)images_\d+/images/", rel) for rel in images.values())
        layout = "kaggle" if nested else "nih"
        return Scan(records=records, problems=problems, layout=layout)

    def load(self, raw: Path, record: RawRecord, params: dict[str, Any]) -> list[PreparedItem]:
        p = {**self.default_params, **params}
        size, ref = int(p["image_size"]), float(p["bbox_reference_size"])
        if size < 8 or ref <= 0:
            raise ConfigError(f"image_size >= 8 and bbox_reference_size > 0 must hold, got {size} and {ref}")
        path = Path(raw) / record.source
        image = read_image(path, grey=True)
        mask = None
        if record.extra.get("boxes"):
            h, w = image.shape
            full = np.zeros((h, w), np.uint8)
            for _label, x, y, bw, bh in record.extra["boxes"]:
                x0, y0 = int(np.floor(x * w / ref)), int(np.floor(y * h / ref))
                x1, y1 = int(np.ceil((x + bw) * w / ref)), int(np.ceil((y + bh) * h / ref))
                full[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)] = 255
            mask = resize_square(full, size, nearest=True)
        return [PreparedItem(key=Path(record.source).stem, image=resize_square(image, size), mask=mask)]

    def synthesize(self, out: Path, *, patients: int, seed: int) -> None:
        from medzoo.datasets.sources.chestxray14.phantom import write_phantom

        write_phantom(Path(out), patients=patients, seed=seed)


# ---------------------------------------------------------------------- files


def _row_record(
    row: dict[str, Any],
    images: dict[str, str],
    splits: dict[str, str] | None,
    boxes: dict[str, list[tuple]],
    listed: set[str],
    problems: list[Problem],
) -> RawRecord | None:
    """The record of one Data_Entry row, or None (with the reason in ``problems``) when it is unusable.

    ``listed`` collects every image name seen, so a repeated row is reported and the first one wins.
    """
    name = row["image"]
    where = f"row {row['row']} ({name})"
    if name in listed:
        problems.append(Problem(row["csv"], f"{where}: the image is listed twice; the first row is used"))
        return None
    listed.add(name)
    if name not in images:
        problems.append(
            Problem(
                row["csv"],
                f"{where} points nowhere: no {name} under the raw folder; extract its images_0xx archive",
            )
        )
        return None
    split = splits.get(name) if splits is not None else None
    if splits is not None and split is None:
        problems.append(
            Problem(
                images[name],
                "the image is in neither train_val_list.txt nor test_list.txt, so the official split "
                "cannot place it; it is left out (use the lists of the same release)",
            )
        )
        return None
    return RawRecord(
        source=images[name],
        label=-1,
        labels=row["labels"],
        patient_id=row["patient_id"],
        official_split=split,
        extra={
            "boxes": boxes.get(name, []),
            "age": row["age"],
            "view": row["view"],
            "csv": row["csv"],
            "row": row["row"],
        },
    )


def _report_unused(
    images: dict[str, str],
    listed: set[str],
    boxes: dict[str, list[tuple]],
    records: list[RawRecord],
    problems: list[Problem],
) -> None:
    """Warn about boxes of no usable image and images no CSV row describes: both are left out."""
    for name in sorted(set(boxes) - {r.source.rsplit("/", 1)[-1] for r in records}):
        problems.append(
            Problem("BBox_List_2017.csv", f"boxes for {name} point to no usable image; they are not used")
        )
    for name in sorted(set(images) - listed):
        problems.append(
            Problem(images[name], "stray image: no row of the Data_Entry CSV describes it; it is not used")
        )


def _index_pngs(raw: Path, problems: list[Problem]) -> dict[str, str]:
    """File name -> relative path of every PNG, checked for its signature and IEND (no decoding)."""
    images: dict[str, str] = {}
    for path, rel in iter_files(raw, suffixes=(".png",)):
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(24)
            fh.seek(max(size - 12, 0))
            tail = fh.read()
        if head[:8] != PNG_SIGNATURE:
            problems.append(Problem(rel, f"not a PNG file (starts {head[:8]!r}); re-extract it"))
            continue
        why = header_problem(head)
        if why is not None:
            problems.append(Problem(rel, why))
            continue
        if b"IEND" not in tail:
            problems.append(
                Problem(rel, "truncated PNG: no IEND chunk; re-download or re-extract its archive")
            )
            continue
        if path.name in images:
            problems.append(
                Problem(rel, f"a second copy of {path.name} (first: {images[path.name]}); it is not used")
            )
            continue
        images[path.name] = rel
    return images


def _read_rows(path: Path, raw: Path, problems: list[Problem], *, fatal: bool) -> list[list[str]] | None:
    """The lines of a CSV or list file split into stripped fields (quoted fields honoured).

    None, after recording one problem naming the file and row, when it is not UTF-8.
    """
    rel = path.relative_to(raw).as_posix()
    try:
        lines = read_text_lines(path, where=rel)
    except DatasetFormatError as exc:
        problems.append(Problem(rel, exc.message.removeprefix(f"{rel}: "), fatal=fatal))
        return None
    return [[f.strip() for f in fields] for fields in csv.reader(line.rstrip("\r\n") for line in lines)]


def _column(header: list[str], *names: str) -> int | None:
    norm = [re.sub(r"\s+", " ", h.strip().lower()) for h in header]
    return next((norm.index(n) for n in names if n in norm), None)


def read_data_entry(path: Path, raw: Path, problems: list[Problem]) -> list[dict[str, Any]]:
    """Rows of a Data_Entry CSV (either release) as dicts: image, labels, patient_id, age, view, row, csv."""
    rel = path.relative_to(raw).as_posix()
    lines = _read_rows(path, raw, problems, fatal=True)
    if lines is None:
        return []
    header = lines[0] if lines else []
    cols = {
        "image": _column(header, "image index"),
        "labels": _column(header, "finding labels"),
        "patient": _column(header, "patient id"),
        "age": _column(header, "patient age"),
        "view": _column(header, "view position"),
    }
    missing = [k for k in ("image", "labels", "patient") if cols[k] is None]
    if missing:
        problems.append(
            Problem(
                rel,
                "the header must name Image Index, Finding Labels and Patient ID, found "
                f"{', '.join(h.strip() for h in header)}; is this the Data_Entry file?",
                fatal=True,
            )
        )
        return []
    need = max(c for c in cols.values() if c is not None) + 1
    rows: list[dict[str, Any]] = []
    for n, fields in enumerate(lines[1:], start=1):
        if not any(fields):
            continue
        if len(fields) < need:
            problems.append(
                Problem(
                    rel,
                    f"row {n} must have at least {need} fields, found {len(fields)}: {','.join(fields)!r}",
                )
            )
            continue
        image, patient = fields[cols["image"]], fields[cols["patient"]]
        labels = parse_findings(fields[cols["labels"]])
        if isinstance(labels, str):
            problems.append(Problem(rel, f"row {n} ({image}): {labels}"))
            continue
        if not patient:
            problems.append(Problem(rel, f"row {n} ({image}): Patient ID must be set, found an empty field"))
            continue
        rows.append(
            {
                "image": image,
                "labels": labels,
                "patient_id": str(int(patient)) if patient.isdigit() else patient,
                "age": parse_age(fields[cols["age"]]) if cols["age"] is not None else None,
                "view": fields[cols["view"]] if cols["view"] is not None else "",
                "row": n,
                "csv": rel,
            }
        )
    return rows


def parse_findings(text: str) -> tuple[str, ...] | str:
    """Finding names in class order; ``No Finding`` -> (); an error message (str) for anything else."""
    names = [t.strip() for t in text.split("|") if t.strip()]
    if names == [NO_FINDING]:
        return ()
    unknown = [t for t in names if t not in FINDINGS]
    if NO_FINDING in names:
        return f"'No Finding' must stand alone, found {text!r}"
    if unknown or not names:
        return (
            f"finding labels must be from {', '.join(FINDINGS)} or 'No Finding', found "
            f"{', '.join(map(repr, unknown)) or 'an empty field'}; fix the row or remove it"
        )
    return tuple(f for f in FINDINGS if f in names)


def parse_age(text: str) -> int | None:
    """``"58"`` and the older ``"058Y"`` are both 58 years; months/days (``"005M"``) become 0; junk -> None."""
    m = re.fullmatch(r"0*(\d+)\s*([YMDW]?)", text.strip(), re.IGNORECASE)
    if m is None:
        return None
    return int(m.group(1)) if m.group(2).upper() in ("", "Y") else 0


def _read_split_lists(raw: Path, problems: list[Problem]) -> dict[str, str] | None:
    """Image name -> "train"/"test" from the official lists; None when they are absent."""
    found = {
        split: find_named(raw, name)
        for split, name in (("train", "train_val_list.txt"), ("test", "test_list.txt"))
    }
    if not found["train"] and not found["test"]:
        problems.append(
            Problem(
                "train_val_list.txt",
                "the official split lists train_val_list.txt and test_list.txt are absent: only "
                "--split patient is possible; download them to use the official split",
            )
        )
        return None
    for split, paths in found.items():
        if not paths:
            problems.append(
                Problem(
                    "test_list.txt" if split == "test" else "train_val_list.txt",
                    "both official split lists must be present, found only the other one; download it "
                    "(a half official split would put unlisted test images into training)",
                    fatal=True,
                )
            )
            return None
    splits: dict[str, str] = {}
    for split, paths in found.items():
        rows = _read_rows(paths[0], raw, problems, fatal=True)
        for name in (",".join(fields) for fields in rows or []):
            if not name:
                continue
            if name in splits and splits[name] != split:
                problems.append(
                    Problem(
                        paths[0].relative_to(raw).as_posix(), f"{name} is in both split lists; it is left out"
                    )
                )
                splits[name] = ""
            else:
                splits[name] = split
    return {k: v for k, v in splits.items() if v}


def _read_boxes(
    raw: Path, problems: list[Problem]
) -> dict[str, list[tuple[str, float, float, float, float]]]:
    """Image name -> [(finding, x, y, w, h)] from BBox_List_2017.csv (optional)."""
    paths = find_named(raw, "bbox_list_2017.csv")
    if not paths:
        return {}
    rel = paths[0].relative_to(raw).as_posix()
    boxes: dict[str, list[tuple[str, float, float, float, float]]] = {}
    for n, fields in enumerate((_read_rows(paths[0], raw, problems, fatal=False) or [[]])[1:], start=1):
        if not any(fields):
            continue
        label = BBOX_ALIASES.get(fields[1], fields[1]) if len(fields) > 1 else ""
        try:
            x, y, w, h = (float(v) for v in fields[2:6])
        except ValueError:
            problems.append(
                Problem(
                    rel, f"row {n} must read image,finding,x,y,w,h, found {','.join(fields)!r}; row not used"
                )
            )
            continue
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            problems.append(
                Problem(
                    rel,
                    f"row {n} ({fields[0]}): x, y, w and h must be finite numbers, got "
                    f"{fields[2:6]}; row not used",
                )
            )
            continue
        if label not in FINDINGS:
            problems.append(
                Problem(rel, f"row {n} ({fields[0]}): unknown finding {fields[1]!r}; row not used")
            )
            continue
        if w <= 0 or h <= 0:
            problems.append(
                Problem(rel, f"row {n} ({fields[0]}): w > 0 and h > 0 must hold, got w={w}, h={h}")
            )
            continue
        boxes.setdefault(fields[0], []).append((label, x, y, w, h))
    return boxes
