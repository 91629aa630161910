"""The kaggle-brain-mri phantom: the Nickparvar layout, re-releasing figshare phantom slices."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medzoo.datasets.imaging import encode_jpeg, to_uint8
from medzoo.datasets.sources.figshare_brain.phantom import brain_patient_slices, phantom_patient

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
