"""all-leukemia: Blood Cells Cancer (ALL) smears from Taleqani Hospital, in both published variants.

Variant A: ``Original/<Benign|Early|Pre|Pro>/WBC-*.jpg`` plus a ``Segmented/`` mirror
with the same names (ignored: medzoo does its own background removal from the
originals). Variant B: ``Blood cell Cancer [ALL]/<Benign | [Malignant] early Pre-B |
[Malignant] Pre-B | [Malignant] Pro-B>/Snap_001.jpg`` with spaces and brackets.
Folder names are matched after normalisation, extensions case-insensitively,
and no image size is assumed. There are no patient ids (89 patients), so only
image-level splits exist and every card says "image-level split".
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from medzoo.datasets.base import DatasetAdapter, DatasetSpec, PreparedItem, Problem, RawRecord, Scan
from medzoo.datasets.imaging import has_image_suffix, read_image, resize_square, sha256_bytes
from medzoo.datasets.preprocess import apply_mask, background_mask_lab_kmeans
from medzoo.datasets.readers import files_named_like_folders, image_file, letters, walk_folders

CLASSES = ("benign", "early_pre_b", "pre_b", "pro_b")

#: normalised class-folder name -> label (both variants)
FOLDERS = {"benign": 0, "early": 1, "earlypreb": 1, "pre": 2, "preb": 2, "pro": 3, "prob": 3}
#: folders that hold class folders, never images themselves
CONTAINERS = {"original", "bloodcellcancerall", "bloodcellscancerall"}
MIRROR = "segmented"
_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")

SPEC = DatasetSpec(
    id="all-leukemia",
    title="Blood Cells Cancer (ALL), Taleqani Hospital",
    task="multiclass",
    classes=CLASSES,
    modality="peripheral blood smear microscopy (RGB)",
    citation="Ghaderzadeh M., Aria M. et al., A fast and efficient CNN model for B-ALL diagnosis and its "
    "subtypes classification using peripheral blood smear images, Int J Intell Syst 37, 2022; "
    "Kaggle 'Acute Lymphoblastic Leukemia (ALL) image dataset' / 'Blood Cells Cancer (ALL) dataset'",
    licence="CC BY 4.0 (Kaggle release); cite Ghaderzadeh et al. 2022",
    layouts=(
        "variant A: Original/<Benign|Early|Pre|Pro>/WBC-*.jpg (+ Segmented/ mirror, ignored)",
        "variant B: Blood cell Cancer [ALL]/<Benign | [Malignant] early Pre-B | [Malignant] Pre-B | "
        "[Malignant] Pro-B>/*.jpg",
    ),
    split_protocols=("image",),
    default_split="image",
    has_patient_ids=False,
    has_masks=False,
    primary_metric="accuracy",
    secondary_metrics=("macro_f1",),
    image_size=224,
    channels=3,
    recipe="all-effnetv2-dsp",
    notes=(
        "image-level split: the dataset publishes no patient ids (89 patients), so cells of one "
        "patient can sit in train and test; results overestimate performance on new patients",
    ),
)


def normalise_folder(name: str) -> str:
    """'[Malignant] early Pre-B' -> 'earlypreb'; 'Benign' -> 'benign'; 'Pro' -> 'pro'."""
    return letters(name, drop="malignant")


class AllLeukemia(DatasetAdapter):
    spec = SPEC
    default_params: dict[str, Any] = {
        "remove_background": True,
        "kmeans_k": 3,
        "kmeans_attempts": 3,
        "kmeans_merge": 20.0,
        "close": 5,
    }
    steps = (
        "read RGB (any size)",
        "background removal: RGB -> CIELAB, k-means (kmeans_k clusters), keep the darkest (stained) cluster "
        "and clusters within kmeans_merge of it, close x close closing, AND with the image",
        "resize: image_size x image_size (area)",
    )

    def scan(self, raw: Path) -> Scan:
        problems: list[Problem] = []
        records: list[RawRecord] = []
        by_sha: dict[str, list[tuple[str, int]]] = defaultdict(list)
        has_original = any(normalise_folder(p.name) == "original" for p in raw.rglob("*") if p.is_dir())
        mirror_seen = False
        layouts: set[str] = set()
        for d, rel, images, subfolders in walk_folders(raw):
            parts = [normalise_folder(p) for p in rel.parts]
            if MIRROR in parts:
                mirror_seen = True
                subfolders[:] = []  # the Segmented/ mirror is derived data: never read
                continue
            if not images:
                continue
            name = parts[-1] if parts else ""
            problems += files_named_like_folders(rel, images, FOLDERS, normalise_folder)
            if name not in FOLDERS:
                if any(has_image_suffix(f) for f in images) and name not in CONTAINERS:
                    problems.append(_unknown_folder_problem(d, rel, images))
                continue
            label = FOLDERS[name]
            layouts.add("A" if "original" in parts else "B")
            records += _folder_records(d, rel, images, label, by_sha, problems)
        if mirror_seen and not has_original:
            problems.append(
                Problem(
                    "Segmented",
                    "only the Segmented/ mirror was found; medzoo needs the Original/ images",
                    fatal=not records,
                )
            )
        problems += _cross_class_duplicates(by_sha)
        _make_patient_ids_unique(records)
        layout = {"A": "variant A (Original/ + Segmented/)", "B": "variant B (Blood cell Cancer [ALL]/)"}
        return Scan(
            records=records,
            problems=problems,
            layout=" + ".join(layout[x] for x in sorted(layouts)) or "unrecognised",
        )

    def load(self, raw: Path, record: RawRecord, params: dict[str, Any]) -> list[PreparedItem]:
        rgb = read_image(raw / record.source)
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[:, :, None], 3, axis=2)
        if params["remove_background"]:
            mask = background_mask_lab_kmeans(
                rgb,
                k=params["kmeans_k"],
                attempts=params["kmeans_attempts"],
                merge=params["kmeans_merge"],
                close=params["close"],
            )
            rgb = apply_mask(rgb, mask)
        image = resize_square(rgb, params["image_size"])
        return [PreparedItem(key=record.patient_id, image=image)]

    def synthesize(self, out: Path, *, patients: int, seed: int) -> None:
        from medzoo.datasets.sources.all_leukemia.phantom import write_phantom

        write_phantom(out, patients=patients, seed=seed)


def _unknown_folder_problem(d: Path, rel: Path, images: list[str]) -> Problem:
    """A warning for a folder of images whose name is no known class: its images are not used."""
    return Problem(
        rel.as_posix() or ".",
        f"unknown class folder {d.name!r} with "
        f"{sum(has_image_suffix(f) for f in images)} image(s); ignored "
        "(known: Benign, Early, Pre, Pro and the [Malignant] ... names)",
    )


def _folder_records(
    d: Path,
    rel: Path,
    images: list[str],
    label: int,
    by_sha: dict[str, list[tuple[str, int]]],
    problems: list[Problem],
) -> list[RawRecord]:
    """The records of one class folder; each image's hash goes into ``by_sha`` to find cross-class copies.

    The study has no patient ids, so each image is its own patient, named by class and file stem.
    """
    records: list[RawRecord] = []
    for f in images:
        src = (rel / f).as_posix()
        data = image_file(d, rel, f, _SUFFIXES, problems)
        if data is None:
            continue
        sha = sha256_bytes(data)
        by_sha[sha].append((src, label))
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(f).stem).strip("_")
        records.append(
            RawRecord(
                source=src,
                label=label,
                labels=(CLASSES[label],),
                patient_id=f"{CLASSES[label]}_{stem}",
                extra={"sha256": sha},
            )
        )
    return records


def _cross_class_duplicates(by_sha: dict[str, list[tuple[str, int]]]) -> list[Problem]:
    """A warning for each image found, byte for byte, under two classes: its label is ambiguous."""
    problems: list[Problem] = []
    for items in by_sha.values():
        if len({lab for _, lab in items}) > 1:
            problems.append(
                Problem(
                    items[0][0],
                    "identical image in two classes: "
                    + ", ".join(f"{s} ({CLASSES[lab]})" for s, lab in items),
                )
            )
    return problems


def _make_patient_ids_unique(records: list[RawRecord]) -> None:
    """Same stem in one class (e.g. nested copies): rename those records' ids by their whole path, in place."""
    keys = defaultdict(list)
    for r in records:
        keys[r.patient_id].append(r.source)
    for key, srcs in keys.items():
        if len(srcs) > 1:
            for i, r in enumerate(records):
                if r.patient_id == key:
                    flat = re.sub(r"[^A-Za-z0-9_-]+", "_", r.source).strip("_")
                    records[i] = RawRecord(
                        r.source, r.label, r.labels, f"{CLASSES[r.label]}_{flat}", extra=r.extra
                    )
