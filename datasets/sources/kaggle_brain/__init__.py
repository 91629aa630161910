"""kaggle-brain-mri: the Kaggle brain MRI sets, for cross-dataset evaluation of figshare models only.

Sartaj (3264): ``Training|Testing/{glioma_tumor,meningioma_tumor,no_tumor,pituitary_tumor}/``
with irregular names; Nickparvar (7023): ``Training|Testing/{glioma,meningioma,notumor,pituitary}/``.
Classes are mapped to figshare-brain's order; no-tumour images are left out and
counted. Every row is in the test split. The 7023 set re-releases figshare
slices, so :func:`medzoo.datasets.dedup_against` removes copies of the training
set before any evaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medzoo.datasets.base import DatasetAdapter, DatasetSpec, PreparedItem, Problem, RawRecord, Scan
from medzoo.datasets.imaging import has_image_suffix, read_image, resize_square
from medzoo.datasets.preprocess import roi_crop
from medzoo.datasets.readers import (
    ROI_CROP_KEYS,
    files_named_like_folders,
    image_file,
    letters,
    roi_crop_args,
    safe_key,
    walk_folders,
)
from medzoo.datasets.sources.figshare_brain import CLASSES, FigshareBrain

#: normalised folder name -> figshare label (None: no tumour, left out)
FOLDERS: dict[str, int | None] = {
    "meningioma": 0,
    "meningiomatumor": 0,
    "meningiomatumour": 0,
    "glioma": 1,
    "gliomatumor": 1,
    "gliomatumour": 1,
    "pituitary": 2,
    "pituitarytumor": 2,
    "pituitarytumour": 2,
    "notumor": None,
    "notumour": None,
    "notumortumor": None,
}
_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
SPLIT_DIRS = {"training": "train", "testing": "test", "train": "train", "test": "test"}

SPEC = DatasetSpec(
    id="kaggle-brain-mri",
    title="Kaggle brain tumour MRI (Sartaj 3264 / Nickparvar 7023), cross-dataset evaluation",
    task="multiclass",
    classes=CLASSES,
    modality="MRI (mixed sequences and planes, 2D JPEG)",
    citation="Bhuvaji S. et al., Brain Tumor Classification (MRI), Kaggle 2020; Nickparvar M., "
    "Brain Tumor MRI Dataset, Kaggle 2021",
    licence="MIT (Sartaj) / CC0 (Nickparvar) per the Kaggle pages; the 7023 set re-releases figshare "
    "slices (CC BY 4.0, Cheng et al.)",
    layouts=(
        "Sartaj: Training|Testing/{glioma_tumor,meningioma_tumor,no_tumor,pituitary_tumor}/*.jpg",
        "Nickparvar: Training|Testing/{glioma,meningioma,notumor,pituitary}/*.jpg",
    ),
    split_protocols=("image",),
    default_split="image",
    has_patient_ids=False,
    has_masks=False,
    primary_metric="accuracy",
    secondary_metrics=("macro_f1",),
    image_size=240,
    channels=1,
    recipe=None,
    eval_only=True,
    notes=(
        "cross-dataset evaluation only; classes mapped to figshare-brain's order, no-tumour left out",
        "the 7023 set contains figshare images: run dedup_against(prepared, figshare_prepared) before evaluating",
    ),
)


class KaggleBrain(DatasetAdapter):
    spec = SPEC
    # the same ROI crop as figshare-brain, so a cross-dataset evaluation sees images prepared alike
    default_params: dict[str, Any] = {
        k: FigshareBrain.default_params[k] for k in ("roi_crop", *ROI_CROP_KEYS)
    }
    steps = (
        "read grey (JPEG, any size)",
        "roi_crop: as figshare-brain (threshold, blur, erode, dilate, largest contour, pad, crop)",
        "resize: image_size x image_size (area)",
    )

    def scan(self, raw: Path) -> Scan:
        problems: list[Problem] = []
        records: list[RawRecord] = []
        excluded = 0
        names: set[str] = set()
        for d, rel, files, _ in walk_folders(raw):
            if not files:
                continue
            key = letters(d.name)
            problems += files_named_like_folders(rel, files, FOLDERS, letters)
            if key not in FOLDERS:
                if any(has_image_suffix(f) for f in files):
                    problems.append(
                        Problem(
                            rel.as_posix() or ".",
                            f"unknown class folder {d.name!r}; ignored "
                            "(known: glioma[_tumor], meningioma[_tumor], pituitary[_tumor], "
                            "no_tumor/notumor)",
                        )
                    )
                continue
            names.add(d.name)
            label = FOLDERS[key]
            part = next((SPLIT_DIRS[letters(p)] for p in rel.parts if letters(p) in SPLIT_DIRS), None)
            for f in files:
                if label is None and has_image_suffix(f, _SUFFIXES):
                    excluded += 1
                    continue
                if image_file(d, rel, f, _SUFFIXES, problems) is None:
                    continue
                stem = safe_key(f"{part or 'x'}_{d.name}_{Path(f).stem}")
                records.append(
                    RawRecord(
                        source=(rel / f).as_posix(),
                        label=label,
                        labels=(CLASSES[label],),
                        patient_id=stem,
                        extra={"kaggle_split": part},
                    )
                )
        if excluded:
            problems.append(
                Problem(".", f"{excluded} no-tumour image(s) left out (not a figshare-brain class)")
            )
        sartaj = any("_tumor" in n.lower() for n in names)
        layout = "Sartaj (3264)" if sartaj else "Nickparvar (7023)" if names else "unrecognised"
        return Scan(records=records, problems=problems, layout=layout, excluded={"no_tumour": excluded})

    def load(self, raw: Path, record: RawRecord, params: dict[str, Any]) -> list[PreparedItem]:
        image = read_image(raw / record.source, grey=True)
        if params["roi_crop"]:
            image, _, _ = roi_crop(image, None, **roi_crop_args(params))
        return [PreparedItem(key=record.patient_id, image=resize_square(image, params["image_size"]))]

    def synthesize(self, out: Path, *, patients: int, seed: int) -> None:
        from medzoo.datasets.sources.kaggle_brain.phantom import write_phantom

        write_phantom(out, patients=patients, seed=seed)
