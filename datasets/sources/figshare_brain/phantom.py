"""The figshare-brain phantom: 4 inner zips of MATLAB v7.3 slices, cvind.mat and the README.

Each phantom patient has its own random stream, so patient ``index`` is the same
whatever the phantom's size: the kaggle-brain-mri phantom re-releases some of
them, as the real Kaggle set re-releases figshare slices.
"""

from __future__ import annotations

import datetime as _dt
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medzoo.datasets import matlab
from medzoo.datasets.phantom import bias_field, blob_mask, smooth_noise, soft


def write_phantom(out: Path, *, patients: int, seed: int, size: int = 256) -> None:
    """Figshare in its download form: 4 inner zips of <n>.mat (v7.3), cvind.mat, README.txt."""
    slices = []
    for p in range(patients):
        images, label, pid, fold = phantom_patient(seed, p, size=size)
        slices += [(image, mask, label + 1, pid, fold) for image, mask in images]
    tmp = out / ".mats"
    tmp.mkdir()
    n_total = len(slices)
    for n, (image, mask, label, pid, _) in enumerate(slices, start=1):
        matlab.write_mat73(
            tmp / f"{n}.mat",
            "cjdata",
            {
                "label": (np.array([[float(label)]]), "double"),
                "PID": (np.array([[ord(c) for c in pid]], dtype=np.uint16), "char"),
                "image": (image.astype(np.int16), "int16"),
                "tumorBorder": (_border(mask)[None, :], "double"),
                "tumorMask": (mask.astype(np.uint8), "logical"),
            },
        )
    bounds = np.linspace(0, n_total, num=min(4, n_total) + 1).round().astype(int)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        with zipfile.ZipFile(
            out / f"brainTumorDataPublic_{lo + 1}-{hi}.zip", "w", zipfile.ZIP_DEFLATED
        ) as zf:
            for n in range(lo + 1, hi + 1):  # fixed member dates: the same seed writes the same bytes
                info = zipfile.ZipInfo(f"{n}.mat", date_time=(2017, 4, 2, 12, 0, 0))
                zf.writestr(info, (tmp / f"{n}.mat").read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    matlab.write_mat73_dataset(out / "cvind.mat", "cvind", np.array([[s[4] for s in slices]], float))
    (out / "README.txt").write_text(_README.format(n=n_total, date=_dt.date(2017, 4, 2).isoformat()))


def phantom_patient(
    seed: int, index: int, *, size: int = 256
) -> tuple[list[tuple[np.ndarray, np.ndarray]], int, str, int]:
    """Phantom patient ``index`` of ``seed``: ([(image, mask), ...], label 0..2, PID, cvind fold 1..5).

    Each patient has its own random stream, so patient ``index`` is the same whatever
    the phantom's size; the kaggle-brain-mri phantom re-releases some of them, as
    the real Kaggle set re-releases figshare slices.
    """
    rng = np.random.default_rng([seed, 101, index])
    probs = np.array([708, 1426, 930], float) / 3064
    label = index % 3 if index < 3 else int(rng.choice(3, p=probs))
    pid = str(100000 + 37 * index + int(rng.integers(0, 37)))
    fold = index % 5 + 1
    slices = brain_patient_slices(rng, label, int(rng.integers(2, 6)), size=size)
    return slices, label, pid, fold


_README = """This brain tumor dataset containing {n} T1-weighted contrast-enhanced images (medzoo phantom, {date} layout).
This data is organized in matlab data format (.mat file). Each file stores a struct containing the following fields:
cjdata.label: 1 for meningioma, 2 for glioma, 3 for pituitary tumor
cjdata.PID: patient ID
cjdata.image: image data
cjdata.tumorBorder: a vector storing the coordinates of discrete points on tumor border.
cjdata.tumorMask: a binary image with 1s indicating tumor region
cvind.mat: 5-fold cross-validation indices (patient-level).
"""


def _border(mask: np.ndarray) -> np.ndarray:
    import cv2

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.zeros(0)
    pts = max(contours, key=cv2.contourArea)[:, 0, :].astype(float) + 1.0  # 1-based x, y
    return pts.ravel()


def brain_patient_slices(
    rng: np.random.Generator,
    label: int,
    n_slices: int,
    *,
    size: int = 256,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Slices of one phantom patient: (int16-range float image, bool tumour mask) pairs.

    Label 0 meningioma sits on the dura (brain edge or falx), 1 glioma in the
    parenchyma with ring enhancement, necrosis and oedema, 2 pituitary at the
    sella (centre-bottom), -1 no tumour. Position, size and contrast ranges overlap between
    classes; anatomy, intensity scale, bias field, noise, vessels and a left-right
    flip vary by patient and slice but never depend on the label.
    """
    s = size / 256.0
    head = {
        "cx": size / 2 + rng.normal(0, 6 * s),
        "cy": size / 2 + rng.normal(0, 6 * s),
        "a": rng.uniform(82, 102) * s,
        "b": rng.uniform(98, 116) * s,
        "angle": rng.normal(0, 0.08),
        "scale": rng.uniform(400, 2600),
        "brain": rng.uniform(0.42, 0.58),
        "flip": rng.random() < 0.5,
        "vent": rng.uniform(0.10, 0.2),
        "noise": rng.uniform(0.02, 0.07),
    }
    tumour = _tumour_params(rng, label, head, s) if label >= 0 else None
    out = []
    for i in range(n_slices):
        z = (i - (n_slices - 1) / 2) / max(n_slices, 2)  # -0.5..0.5 through the lesion
        out.append(_render_slice(rng, label, head, tumour, z, size))
    return out


def _tumour_params(rng: np.random.Generator, label: int, head: dict, s: float) -> dict:
    a, b = head["a"] * 0.9, head["b"] * 0.9
    if label == 0:  # meningioma: extra-axial, dural base; convexity or falx
        if rng.random() < 0.8:
            theta = rng.uniform(0, 2 * np.pi)
            r = rng.uniform(12, 26) * s
            cx = head["cx"] + (a - r * 0.55) * np.cos(theta)
            cy = head["cy"] + (b - r * 0.55) * np.sin(theta)
        else:
            r = rng.uniform(10, 22) * s
            cx = head["cx"] + rng.normal(0, 3 * s)
            cy = head["cy"] + rng.uniform(-0.7, -0.2) * b
        return {
            "cx": cx,
            "cy": cy,
            "r": r,
            "gain": rng.uniform(1.35, 2.1),
            "irr": rng.uniform(0.0, 0.25),
            "ring": 0.0,
            "necrosis": 0.0,
            "oedema": rng.uniform(0.0, 0.25),
            "elong": rng.uniform(1.0, 1.5),
            "tail": rng.random() < 0.6,
        }
    if label == 1:  # glioma: intra-axial anywhere in the parenchyma
        theta = rng.uniform(0, 2 * np.pi)
        rad = rng.uniform(0.15, 0.72)
        r = rng.uniform(12, 32) * s
        return {
            "cx": head["cx"] + rad * a * np.cos(theta),
            "cy": head["cy"] + rad * b * np.sin(theta),
            "r": r,
            "gain": rng.uniform(1.15, 1.9),
            "irr": rng.uniform(0.3, 0.8),
            "ring": rng.uniform(0.0, 1.0),
            "necrosis": rng.uniform(0.0, 0.7),
            "oedema": rng.uniform(0.2, 0.7),
            "elong": rng.uniform(1.0, 1.6),
            "tail": False,
        }
    # pituitary: sella, centre-bottom, small to macroadenoma
    r = rng.uniform(7, 20) * s
    return {
        "cx": head["cx"] + rng.normal(0, 5 * s),
        "cy": head["cy"] + rng.uniform(0.25, 0.5) * b,
        "r": r,
        "gain": rng.uniform(1.2, 1.9),
        "irr": rng.uniform(0.0, 0.35),
        "ring": 0.0,
        "necrosis": rng.uniform(0.0, 0.3),
        "oedema": 0.0,
        "elong": rng.uniform(1.0, 1.4),
        "tail": False,
    }


def _render_slice(rng: np.random.Generator, label: int, head: dict, t: dict | None, z: float, size: int):
    import cv2

    shape = (size, size)
    img, sl = _draw_head(rng, head, z, size)
    img = _draw_distractors(rng, img, head, sl, size)
    if t is None:  # no tumour (kaggle's no-tumour class)
        m = np.zeros(shape, bool)
        img = img * (1 - 0.35) + cv2.GaussianBlur(img, (5, 5), 1.2) * 0.35
    else:
        img, m = _draw_tumour(rng, img, label, t, z, rr=sl.rr, brain=sl.brain, xx=sl.xx, yy=sl.yy, head=head)
    img *= bias_field(rng, shape, strength=0.35)
    img = img + head["noise"] * rng.standard_normal(shape).astype(np.float32)
    img = np.abs(img)  # magnitude images: Rician-like floor
    img *= head["scale"]
    if head["flip"]:
        img, m = img[:, ::-1], m[:, ::-1]
    return np.clip(img, 0, 32767).round(), np.ascontiguousarray(m)


@dataclass(frozen=True)
class _Slice:
    """The geometry of one slice through the head: pixel grids, head radius field and brain mask."""

    xx: np.ndarray
    yy: np.ndarray
    rr: np.ndarray  # elliptic radius: brain up to 0.97, then skull to 1.04 and scalp to 1.12
    brain: np.ndarray
    a: float  # the head's semi-axes in this slice
    b: float


def _draw_head(rng: np.random.Generator, head: dict, z: float, size: int) -> tuple[np.ndarray, _Slice]:
    """Scalp, skull, grey and white matter and the ventricles of the slice at height ``z``."""
    shape = (size, size)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    shrink = np.sqrt(max(1.0 - (1.6 * z) ** 2 * 0.25, 0.5))
    a, b = head["a"] * shrink, head["b"] * shrink
    ca, sa = np.cos(head["angle"]), np.sin(head["angle"])
    u = ((xx - head["cx"]) * ca + (yy - head["cy"]) * sa) / a
    v = (-(xx - head["cx"]) * sa + (yy - head["cy"]) * ca) / b
    rr = np.sqrt(u**2 + v**2)
    img = np.zeros(shape, np.float32)
    scalp = (rr > 1.04) & (rr <= 1.12)
    skull = (rr > 0.97) & (rr <= 1.04)
    brain = rr <= 0.97
    img[scalp] = 0.85
    img[skull] = 0.08
    tex = smooth_noise(rng, shape, scale=6 * size / 256)
    img[brain] = head["brain"] + 0.05 * tex[brain]
    # white matter brighter core, cortex ribbon darker
    img += 0.06 * soft(rr < 0.75, 4) * brain
    # ventricles (dark CSF) near the centre, choroid plexus distractor
    vent = head["vent"] * (1 - abs(z))
    for side in (-1, 1):
        vm = blob_mask(
            shape,
            (head["cy"] - 0.1 * b, head["cx"] + side * 0.12 * a),
            vent * b,
            rng=rng,
            elongation=0.45,
            angle=np.pi / 2,
            irregularity=0.2,
        )
        img = np.where(vm, 0.12 + 0.03 * tex, img)
    return img, _Slice(xx, yy, rr, brain, a, b)


def _draw_distractors(
    rng: np.random.Generator, img: np.ndarray, head: dict, sl: _Slice, size: int
) -> np.ndarray:
    """Label-independent bright structures, so that brightness alone does not give the class away."""
    shape = (size, size)
    a, b, rr = sl.a, sl.b, sl.rr
    # bright vessels / sinus, a bright spot anywhere
    for _ in range(int(rng.integers(1, 5))):
        ang, rad = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.95)
        c = (head["cy"] + rad * b * np.sin(ang), head["cx"] + rad * a * np.cos(ang))
        vm = blob_mask(
            shape,
            c,
            rng.uniform(1.5, 7) * size / 256,
            rng=rng,
            elongation=rng.uniform(1, 4),
            angle=rng.uniform(0, np.pi),
        )
        img = np.where(vm & (rr < 1.0), img * rng.uniform(1.3, 2.0), img)
    if rng.random() < 0.4:  # the normal pituitary gland / a vessel at the sella, whatever the class
        c = (head["cy"] + rng.uniform(0.25, 0.5) * b, head["cx"] + rng.normal(0, 5 * size / 256))
        vm = blob_mask(shape, c, rng.uniform(3, 7) * size / 256, rng=rng, irregularity=0.2)
        img = np.where(vm, img * rng.uniform(1.2, 1.8), img)
    return img


def _draw_tumour(
    rng: np.random.Generator,
    img: np.ndarray,
    label: int,
    t: dict,
    z: float,
    *,
    rr: np.ndarray,
    brain: np.ndarray,
    xx: np.ndarray,
    yy: np.ndarray,
    head: dict,
) -> tuple[np.ndarray, np.ndarray]:
    """The tumour's cross-section at depth ``z``: (image, bool mask)."""
    import cv2

    shape = img.shape
    r = t["r"] * np.sqrt(max(1.0 - (2 * z) ** 2 * 0.6, 0.25)) * rng.uniform(0.92, 1.08)
    c = (t["cy"] + rng.normal(0, 1.0), t["cx"] + rng.normal(0, 1.0))
    m = blob_mask(
        shape, c, r, rng=rng, irregularity=t["irr"], elongation=t["elong"], angle=rng.uniform(0, np.pi)
    )
    if label == 0:
        m &= rr <= 1.0  # meningioma does not cross the skull
    else:
        m &= rr <= 0.95
    if t["oedema"] > 0:
        oe = blob_mask(shape, c, r * (1.3 + t["oedema"]), rng=rng, irregularity=0.5) & brain & ~m
        img = np.where(oe, img * (1 - 0.35 * t["oedema"]), img)
    tumour_tex = smooth_noise(rng, shape, scale=3 * shape[0] / 256)
    level = head["brain"] * t["gain"]
    les = level * (1 + 0.08 * tumour_tex)
    if t["ring"] > 0 or t["necrosis"] > 0:
        dist = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 3)
        core = dist > max(r * 0.35, 2)
        les = np.where(core, level * (1 - 0.6 * t["necrosis"]) * (1 + 0.15 * tumour_tex), les)
    img = np.where(m, les, img)
    img = img * (1 - 0.35) + cv2.GaussianBlur(img, (5, 5), 1.2) * 0.35
    if t["tail"]:  # dural tail: a thin bright line along the inner skull
        tail = (np.abs(rr - 0.96) < 0.015) & (np.hypot(xx - c[1], yy - c[0]) < r * 2.0)
        img = np.where(tail, level * 0.9, img)
    return img, m
