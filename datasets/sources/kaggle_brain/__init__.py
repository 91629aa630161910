"""kaggle-brain-mri: the Kaggle brain MRI sets, for cross-dataset evaluation of figshare models only.

Sartaj (3264): ``Training|Testing/{glioma_tumor,meningioma_tumor,no_tumor,pituitary_tumor}/``
with irregular names; Nickparvar (7023): ``Training|Testing/{glioma,meningioma,notumor,pituitary}/``.
Classes are mapped to figshare-brain's order; no-tumour images are left out and
counted. Every row is in the test split. The 7023 set re-releases figshare
slices, so :func:`medzoo.datasets.dedup_against` removes copies of the training
set before any evaluation.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from medzoo.datasets.base import (
    DatasetAdapter,
    DatasetSpec,
    PreparedItem,
    Problem,
    RawRecord,
    Scan,
    register_dataset,
)
from medzoo.datasets.figshare_brain import CLASSES, FigshareBrain, brain_patient_slices, phantom_patient
from medzoo.datasets.imaging import (
    encode_jpeg,
    has_image_suffix,
    is_stray,
    read_image,
    resize_square,
    to_uint8,
    verify_image_bytes,
)
from medzoo.datasets.preprocess import roi_crop

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


def normalise_folder(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


@register_dataset
class KaggleBrain(DatasetAdapter):
    spec = SPEC
    # the same ROI crop as figshare-brain, so a cross-dataset evaluation sees images prepared alike
    default_params: dict[str, Any] = {
        k: FigshareBrain.default_params[k]
        for k in ("roi_crop", "threshold", "blur", "erode", "dilate", "pad")
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
        for dirpath, dirnames, filenames in os.walk(raw):
            dirnames.sort()
            d = Path(dirpath)
            rel = d.relative_to(raw)
            if "__MACOSX" in rel.parts:
                continue
            files = [f for f in sorted(filenames) if not is_stray(f)]
            if not files:
                continue
            key = normalise_folder(d.name)
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
            part = next(
                (SPLIT_DIRS[normalise_folder(p)] for p in rel.parts if normalise_folder(p) in SPLIT_DIRS),
                None,
            )
            for f in files:
                src = (rel / f).as_posix()
                if not has_image_suffix(f, (".jpg", ".jpeg", ".png", ".bmp")):
                    problems.append(Problem(src, "not an image file; ignored"))
                    continue
                if label is None:
                    excluded += 1
                    continue
                why = verify_image_bytes((d / f).read_bytes())
                if why is not None:
                    problems.append(Problem(src, why))
                    continue
                stem = re.sub(r"[^A-Za-z0-9_-]+", "_", f"{part or 'x'}_{d.name}_{Path(f).stem}").strip("_")
                records.append(
                    RawRecord(
                        source=src,
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
            image, _, _ = roi_crop(
                image,
                None,
                threshold=params["threshold"],
                blur=params["blur"],
                erode=params["erode"],
                dilate=params["dilate"],
                pad=params["pad"],
            )
        return [PreparedItem(key=record.patient_id, image=resize_square(image, params["image_size"]))]

    def synthesize(self, out: Path, *, patients: int, seed: int) -> None:
        write_phantom(out, patients=patients, seed=seed)


_NICK = {0: ("meningioma", "me"), 1: ("glioma", "gl"), 2: ("pituitary", "pi"), None: ("notumor", "no")}


def write_phantom(out: Path, *, patients: int, seed: int) -> None:
    """Nickparvar layout: Training|Testing/<class>/Tr-gl_0001.jpg; JPEG slices of varied sizes.

    Like the real 7023 set it re-releases figshare slices: the slices of figshare
    phantom patients 0..k-1 of the same seed (k = patients // 4, at least 1) are
    included as JPEGs at their native size, so ``dedup_against`` has real work to do.
    """
    rng = np.random.default_rng([seed, 303])
    items: list[tuple[np.ndarray, int | None]] = []
    for p in range(max(patients // 4, 1)):  # the figshare re-release
        slices, label, _, _ = phantom_patient(seed, p)
        items += [(to_uint8(img), label) for img, _ in slices]
    for p in range(patients):
        label = [0, 1, 2, None][p % 4] if p < 4 else [0, 1, 2, None][int(rng.integers(0, 4))]
        size = int(rng.choice([256, 512, 512, 350]))
        prng = np.random.default_rng([seed, 303, p])
        for img, _ in brain_patient_slices(
            prng, -1 if label is None else label, int(prng.integers(2, 4)), size=size
        ):
            items.append((to_uint8(img), label))
    order = rng.permutation(len(items))
    counters: dict[tuple[str, int | None], int] = {}
    for i in order:
        image, label = items[i]
        split = "Testing" if rng.random() < 0.25 else "Training"
        folder, short = _NICK[label]
        n = counters.get((split, label), 0)
        counters[(split, label)] = n + 1
        path = out / split / folder / f"{split[:2]}-{short}_{n:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_jpeg(image, quality=int(rng.integers(85, 96))))
