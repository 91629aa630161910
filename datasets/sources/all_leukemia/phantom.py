"""The all-leukemia phantom: variant A (``Original/<class>/WBC-*.jpg`` plus the ``Segmented/`` mirror)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medzoo.datasets.imaging import encode_jpeg
from medzoo.datasets.phantom import blob_mask, smooth_noise, soft

_FOLDER_A = ("Benign", "Early", "Pre", "Pro")
_NAME_A = ("WBC-Benign", "WBC-Malignant-Early", "WBC-Malignant-Pre", "WBC-Malignant-Pro")


def write_phantom(out: Path, *, patients: int, seed: int, size: int = 224) -> None:
    """Variant A: Original/<class>/WBC-...-NNN.jpg and the Segmented/ mirror with the same names."""
    rng = np.random.default_rng([seed, 202])
    probs = np.array([512, 979, 955, 796], float) / 3242
    labels = np.concatenate([np.arange(4), rng.choice(4, size=max(patients - 4, 0), p=probs)])[:patients]
    labels = rng.permutation(labels)
    counters = [0, 0, 0, 0]
    for p in range(patients):
        label = int(labels[p])
        stain = {
            "hue": rng.normal(0, 8),
            "sat": rng.uniform(0.75, 1.2),
            "bright": rng.uniform(0.9, 1.06),
            "zoom": rng.uniform(0.85, 1.15),
            "blur": rng.uniform(0.0, 1.2),
            "quality": int(rng.integers(80, 96)),
        }
        for _ in range(int(rng.integers(3, 7))):
            rgb, cell = smear_image(rng, label, stain, size=size)
            counters[label] += 1
            name = f"{_NAME_A[label]}-{counters[label]:03d}.jpg"
            for root, img in (
                ("Original", rgb),
                ("Segmented", np.where(cell[..., None], rgb, 0).astype(np.uint8)),
            ):
                path = out / root / _FOLDER_A[label] / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(encode_jpeg(img, quality=stain["quality"]))


def smear_image(
    rng: np.random.Generator, label: int, stain: dict, *, size: int = 224
) -> tuple[np.ndarray, np.ndarray]:
    """One smear field: pale background, red cells (distractors), 1-2 lymphoid cells of class ``label``.

    Classes differ in nucleus size, outline (round -> cleaved) and chromatin
    (condensed and homogeneous -> open with nucleoli); ranges overlap, and stain
    colour, zoom, blur and red-cell crowding vary by patient, not by class.
    """
    import cv2

    shape = (size, size)
    z = stain["zoom"] * size / 224
    bg = np.array([236, 222, 226], np.float32) * stain["bright"]
    img = np.ones((*shape, 3), np.float32) * bg
    img += 4 * smooth_noise(rng, shape, scale=20)[..., None]
    # red blood cells: pink discs with central pallor, drawn on one alpha layer and blended once
    disc = np.zeros(shape, np.float32)
    pallor = np.zeros(shape, np.float32)
    for _ in range(int(rng.integers(6, 18))):
        cx, cy = rng.uniform(0, size), rng.uniform(0, size)
        r = rng.uniform(11, 16) * z
        axes = (int(r * rng.uniform(0.9, 1.1)), int(r * rng.uniform(0.9, 1.1)))
        cv2.ellipse(disc, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, 1.0, -1, cv2.LINE_AA)
        cv2.circle(pallor, (int(cx), int(cy)), int(r * 0.45), 1.0, -1, cv2.LINE_AA)
    disc = cv2.GaussianBlur(disc, (5, 5), 1.2)[..., None]
    pallor = cv2.GaussianBlur(pallor, (7, 7), 2.0)[..., None]
    rbc = np.array([214, 150, 160], np.float32) + rng.normal(0, 6, 3)
    img = img * (1 - disc) + disc * (rbc + 25 * pallor)
    cell_mask = np.zeros(shape, bool)
    n_cells = 1 + int(rng.random() < 0.3)
    for k in range(n_cells):
        lab = label if k == 0 else int(rng.integers(0, 4)) if label == 0 else label
        centre = (
            (size / 2 + rng.normal(0, size * 0.12), size / 2 + rng.normal(0, size * 0.12))
            if k == 0
            else (rng.uniform(0.15, 0.85) * size, rng.uniform(0.15, 0.85) * size)
        )
        img, m = _lymphoid_cell(rng, img, centre, lab, z)
        cell_mask |= m
    # stain: rotate hue a little, scale saturation (label-independent)
    u8 = np.clip(img, 0, 255).astype(np.uint8)
    hsv = cv2.cvtColor(u8, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + stain["hue"] / 2) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * stain["sat"], 0, 255)
    img = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    if stain["blur"] > 0.2:
        img = cv2.GaussianBlur(img, (0, 0), stain["blur"])
    img += rng.normal(0, 3.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), cell_mask


# per class: nucleus radius range, outline irregularity, cleft probability, chromatin (scale px, contrast),
# nucleoli count range, cytoplasm rim ratio
_CELL = {
    0: {
        "r": (19, 27),
        "irr": (0.0, 0.18),
        "cleft": 0.05,
        "chrom": (1.5, 0.10),
        "nucleoli": (0, 1),
        "cyto": (1.08, 1.25),
    },
    1: {
        "r": (22, 31),
        "irr": (0.05, 0.3),
        "cleft": 0.15,
        "chrom": (1.2, 0.16),
        "nucleoli": (0, 2),
        "cyto": (1.1, 1.3),
    },
    2: {
        "r": (25, 34),
        "irr": (0.15, 0.42),
        "cleft": 0.3,
        "chrom": (2.2, 0.2),
        "nucleoli": (0, 2),
        "cyto": (1.12, 1.35),
    },
    3: {
        "r": (27, 37),
        "irr": (0.3, 0.65),
        "cleft": 0.55,
        "chrom": (3.2, 0.26),
        "nucleoli": (1, 4),
        "cyto": (1.15, 1.45),
    },
}


def _lymphoid_cell(
    rng: np.random.Generator, img: np.ndarray, centre: tuple[float, float], label: int, z: float
) -> tuple[np.ndarray, np.ndarray]:
    shape = img.shape[:2]
    p = _CELL[label]
    r = rng.uniform(*p["r"]) * z
    cyto = blob_mask(
        shape,
        centre,
        r * rng.uniform(*p["cyto"]),
        rng=rng,
        irregularity=0.15,
        elongation=rng.uniform(1.0, 1.25),
        angle=rng.uniform(0, np.pi),
    )
    nuc = blob_mask(
        shape,
        centre,
        r,
        rng=rng,
        irregularity=rng.uniform(*p["irr"]),
        elongation=rng.uniform(1.0, 1.3),
        angle=rng.uniform(0, np.pi),
    )
    if rng.random() < p["cleft"]:  # a nuclear cleft / indentation
        ang = rng.uniform(0, 2 * np.pi)
        notch_c = (centre[0] + r * 0.95 * np.sin(ang), centre[1] + r * 0.95 * np.cos(ang))
        nuc &= ~blob_mask(shape, notch_c, r * rng.uniform(0.3, 0.55), rng=rng)
    cyto_col = np.array([175, 170, 215], np.float32) + rng.normal(0, 8, 3)
    cs = soft(cyto, 1.0)[..., None]
    img = img * (1 - cs) + cs * cyto_col
    scale, contrast = p["chrom"]
    chrom = smooth_noise(rng, shape, scale=scale * z, octaves=2)
    base = np.array([92, 52, 128], np.float32) + rng.normal(0, 7, 3)
    darkness = 1.0 - contrast * chrom  # open chromatin: strong light/dark texture
    if label == 0:
        darkness = darkness * rng.uniform(0.78, 0.9)  # condensed: darker, homogeneous
    nuc_col = base[None, None, :] * darkness[..., None]
    for _ in range(int(rng.integers(p["nucleoli"][0], p["nucleoli"][1] + 1))):
        off = rng.normal(0, r * 0.35, 2)
        nl = soft(
            blob_mask(shape, (centre[0] + off[0], centre[1] + off[1]), rng.uniform(2.0, 4.5) * z, rng=rng),
            1.0,
        )
        nuc_col = nuc_col * (1 - nl[..., None]) + nl[..., None] * np.array([150, 120, 185], np.float32)
    ns = soft(nuc, 0.8)[..., None]
    img = img * (1 - ns) + ns * nuc_col
    return img, cyto | nuc
