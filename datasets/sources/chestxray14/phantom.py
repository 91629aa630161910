"""A ChestX-ray14 phantom: small grey PNG radiographs with several findings at once.

The files follow the Kaggle copy (``images_001/images/*.png`` ...) with the v2020
Data_Entry CSV (unquoted commas inside its bracketed header fields), the official
split lists (patient-disjoint) and a BBox_List_2017.csv that says ``Infiltrate``
and uses the 1024-pixel coordinates of the release. Findings co-occur through
latent causes (cardiac, infection, neoplasm, COPD) and each has its own sign:
effusion a basal opacity with a meniscus, cardiomegaly a wide heart shadow,
nodule/mass round blobs, pneumothorax a lucent rim with a pleural line, and so on.
Pose, exposure, noise and distractors (ECG leads, nipple shadows, markers) vary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medzoo.datasets.sources.chestxray14 import FINDINGS

SIZE = 128  # the release is 1024 x 1024; readers never assume a size
BBOX_CLASSES = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
)
HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]"
)
#: latent cause -> (prevalence, {finding: probability given the cause})
_CAUSES = {
    "cardiac": (0.14, {"Cardiomegaly": 0.85, "Effusion": 0.5, "Edema": 0.4, "Atelectasis": 0.15}),
    "infection": (0.2, {"Pneumonia": 0.4, "Infiltration": 0.65, "Consolidation": 0.45, "Effusion": 0.2}),
    "neoplasm": (0.12, {"Mass": 0.6, "Nodule": 0.55, "Atelectasis": 0.25, "Effusion": 0.2}),
    "copd": (0.1, {"Emphysema": 0.8, "Pneumothorax": 0.25, "Fibrosis": 0.15}),
}
_BASE = {
    "Atelectasis": 0.06,
    "Infiltration": 0.06,
    "Fibrosis": 0.05,
    "Pleural_Thickening": 0.07,
    "Hernia": 0.03,
    "Pneumothorax": 0.04,
    "Nodule": 0.04,
    "Edema": 0.02,
    "Consolidation": 0.02,
    "Mass": 0.02,
}


def write_phantom(out: Path, *, patients: int, seed: int) -> None:
    """Write ``patients`` patients with 1-3 follow-up images each (about a quarter in test_list.txt)."""

    from medzoo.datasets.imaging import encode_png

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    test_patients = set(
        rng.choice(np.arange(1, patients + 1), size=max(2, round(patients * 0.25)), replace=False)
    )
    entries, boxes, lists = [], [], {"train": [], "test": []}
    count = 0
    for pid in range(1, patients + 1):
        sex, age = str(rng.choice(["M", "F"])), int(rng.integers(18, 90))
        findings: set[str] = set()
        for follow_up in range(int(rng.integers(1, 4))):
            findings = _draw_findings(rng, keep=findings)
            image, where = _render(rng, findings, sex)
            name = f"{pid:08d}_{follow_up:03d}.png"
            part = out / f"images_{count // 50 + 1:03d}" / "images"  # the Kaggle copy: 50 per part here
            part.mkdir(parents=True, exist_ok=True)
            (part / name).write_bytes(encode_png(image))
            count += 1
            labels = "|".join(f for f in FINDINGS if f in findings) or "No Finding"
            width, height = int(rng.integers(2000, 3000)), int(rng.integers(2000, 3000))
            spacing = float(rng.choice([0.139, 0.143, 0.168]))
            entries.append(
                f"{name},{labels},{follow_up},{pid},{age + follow_up // 2},{sex},{rng.choice(['PA', 'AP'])},"
                f"{width},{height},{spacing},{spacing}"
            )
            (lists["test"] if pid in test_patients else lists["train"]).append(name)
            if findings & set(BBOX_CLASSES) and rng.random() < 0.4:
                scale = 1024 / SIZE
                for finding in sorted(findings & set(BBOX_CLASSES)):
                    x, y, w, h = (v * scale for v in where[finding])
                    label = "Infiltrate" if finding == "Infiltration" else finding
                    boxes.append(f"{name},{label},{x:.6f},{y:.6f},{w:.6f},{h:.6f},,,")
    (out / "Data_Entry_2017_v2020.csv").write_text(HEADER + "\n" + "\n".join(entries) + "\n")
    (out / "train_val_list.txt").write_text("\n".join(sorted(lists["train"])) + "\n")
    (out / "test_list.txt").write_text("\n".join(sorted(lists["test"])) + "\n")
    (out / "BBox_List_2017.csv").write_text(
        "Image Index,Finding Label,Bbox [x,y,w,h],,,\n" + "\n".join(boxes) + "\n"
    )


def _draw_findings(rng: np.random.Generator, *, keep: set[str]) -> set[str]:
    """Findings of one image: chronic ones tend to persist across follow-ups, causes make them co-occur."""
    findings = {f for f in sorted(keep) if rng.random() < 0.6}
    for prevalence, effects in _CAUSES.values():
        if rng.random() < prevalence:
            findings |= {f for f, p in effects.items() if rng.random() < p}
    findings |= {f for f, p in _BASE.items() if rng.random() < p}
    return findings


@dataclass(frozen=True)
class _Chest:
    """Where one radiograph's anatomy lies, so that each finding is drawn on the right structure."""

    cx: float
    cy: float
    lung_w: float
    lung_h: float
    centres: tuple[tuple[float, float], ...]  # right-of-image lung last: index (side + 1) // 2
    lungs: np.ndarray  # the blurred lung mask, float32 in [0, 1]
    hx: float
    hy: float


class _Opacities:
    """An additive opacity layer and the random placement helpers the findings share."""

    def __init__(self, rng: np.random.Generator, chest: _Chest) -> None:
        self.rng, self.chest = rng, chest
        self.layer = np.zeros((SIZE, SIZE), np.float32)

    def blob(
        self, x: float, y: float, rx: float, ry: float, value: float, blur: float, angle: float = 0.0
    ) -> None:
        import cv2

        layer = np.zeros((SIZE, SIZE), np.float32)
        cv2.ellipse(
            layer,
            (round(x), round(y)),
            (max(round(rx), 1), max(round(ry), 1)),
            angle,
            0,
            360,
            value,
            -1,
            cv2.LINE_AA,
        )
        np.add(self.layer, cv2.GaussianBlur(layer, (0, 0), blur) if blur > 0 else layer, out=self.layer)

    def lung_point(self, side: int, low: float = -0.8, high: float = 0.8) -> tuple[float, float]:
        lx, ly = self.chest.centres[(side + 1) // 2]
        return lx + self.rng.uniform(-0.5, 0.5) * self.chest.lung_w, ly + self.rng.uniform(
            low, high
        ) * self.chest.lung_h

    def side(self) -> int:
        return int(self.rng.choice([-1, 1]))


def _render(rng: np.random.Generator, findings: set[str], sex: str) -> tuple[np.ndarray, dict[str, tuple]]:
    """A uint8 frontal radiograph and each finding's box (x, y, w, h) in its own pixels.

    The steps draw from ``rng`` in the order they run here; reordering them changes the phantom of a seed.
    """
    where: dict[str, tuple] = {}
    img, chest = _draw_anatomy(rng, findings, where)
    opacities = _Opacities(rng, chest)
    _draw_airspace_findings(opacities, findings, where)
    _draw_focal_findings(opacities, findings, where)
    img += opacities.layer
    if "Pneumothorax" in findings:
        img = _draw_pneumothorax(rng, img, chest, where)
    _draw_distractors(rng, img, chest, sex)
    img = _acquire(rng, img, where)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), where


def _draw_anatomy(
    rng: np.random.Generator, findings: set[str], where: dict[str, tuple]
) -> tuple[np.ndarray, _Chest]:
    """Body, lungs, ribs, mediastinum, heart and diaphragm; the heart's box goes into ``where``."""
    import cv2

    s = SIZE
    img = np.full((s, s), 0.12, np.float32)  # air outside the body
    cx, cy = s / 2 + rng.normal(0, 3), s / 2 + rng.normal(0, 3)
    big = 1.08 if "Emphysema" in findings else 1.0
    cv2.ellipse(img, (round(cx), round(cy + 6)), (round(0.47 * s), round(0.55 * s)), 0, 0, 360, 0.55, -1)
    lungs = np.zeros((s, s), np.float32)
    lung_w, lung_h = 0.17 * s * big * rng.uniform(0.92, 1.08), 0.3 * s * big * rng.uniform(0.92, 1.08)
    centres = []
    for side in (-1, 1):
        lx, ly = cx + side * 0.2 * s, cy - 0.02 * s
        centres.append((lx, ly))
        cv2.ellipse(lungs, (round(lx), round(ly)), (round(lung_w), round(lung_h)), side * 4, 0, 360, 1.0, -1)
    lungs = cv2.GaussianBlur(lungs, (0, 0), 2.0)
    darkness = 0.42 if "Emphysema" in findings else 0.33
    img -= darkness * lungs
    markings = cv2.GaussianBlur(rng.standard_normal((s, s)).astype(np.float32), (0, 0), 1.2)
    img += (0.02 if "Emphysema" in findings else 0.05) * markings * lungs
    _draw_ribs(img, cx, cy, lung_h)
    cv2.rectangle(img, (round(cx - 0.06 * s), 0), (round(cx + 0.06 * s), s), 0.22, -1)  # mediastinum + spine
    ctr = rng.uniform(0.52, 0.62) if "Cardiomegaly" in findings else rng.uniform(0.36, 0.5)
    heart_w = ctr * 0.94 * s / 2
    hx, hy = cx + 0.04 * s, cy + 0.14 * s
    heart = np.zeros((s, s), np.float32)
    cv2.ellipse(heart, (round(hx), round(hy)), (round(heart_w), round(0.15 * s)), 8, 0, 360, 0.42, -1)
    img += cv2.GaussianBlur(heart, (0, 0), 1.5)
    where["Cardiomegaly"] = (hx - heart_w, hy - 0.15 * s, 2 * heart_w, 0.3 * s)
    diaphragm_y = cy + lung_h * (0.95 if "Emphysema" in findings else 0.8)
    img[int(diaphragm_y) + 4 :, :] += 0.18
    return img, _Chest(cx, cy, lung_w, lung_h, tuple(centres), lungs, hx, hy)


def _draw_ribs(img: np.ndarray, cx: float, cy: float, lung_h: float) -> None:
    """Faint rib arcs across the lungs (no randomness: the pose varies them)."""
    import cv2

    s = SIZE
    for k in range(6):
        y = cy - lung_h + k * lung_h * 0.33
        for side in (-1, 1):
            cv2.ellipse(
                img,
                (round(cx + side * 0.05 * s), round(y)),
                (round(0.22 * s), round(0.05 * s)),
                0,
                200 if side > 0 else -20,
                340 if side > 0 else 160,
                0.05,
                1,
                cv2.LINE_AA,
            )


def _draw_airspace_findings(op: _Opacities, findings: set[str], where: dict[str, tuple]) -> None:
    """Effusion, atelectasis, consolidation, pneumonia, infiltration and edema: fluid and filled air spaces."""
    import cv2

    rng, chest, s = op.rng, op.chest, SIZE
    if "Effusion" in findings:  # basal opacity with a meniscus, higher laterally
        sd, height = op.side(), rng.uniform(0.15, 0.35) * chest.lung_h * 2
        lx, ly = chest.centres[(sd + 1) // 2]
        base = ly + chest.lung_h
        layer = np.zeros((s, s), np.float32)
        xs = np.arange(round(lx - chest.lung_w), round(lx + chest.lung_w))
        for x in xs:
            lateral = abs(x - chest.cx) / (0.2 * s + chest.lung_w)
            top = base - height * (0.6 + 0.5 * lateral)
            layer[max(int(top), 0) : int(base) + 2, int(np.clip(x, 0, s - 1))] = rng.uniform(0.3, 0.38)
        op.layer += cv2.GaussianBlur(layer, (0, 0), 1.5) * chest.lungs
        where["Effusion"] = (lx - chest.lung_w, base - height * 1.1, 2 * chest.lung_w, height * 1.1 + 2)
    if "Atelectasis" in findings:  # a plate-like band in a lower zone
        sd = op.side()
        x, y = op.lung_point(sd, 0.2, 0.7)
        op.blob(
            x, y, rng.uniform(8, 14), rng.uniform(1.5, 3), rng.uniform(0.2, 0.3), 1.0, rng.uniform(-20, 20)
        )
        where["Atelectasis"] = (x - 14, y - 5, 28, 10)
    for finding, value, size in (("Consolidation", 0.32, (8, 15)), ("Pneumonia", 0.24, (7, 13))):
        if finding in findings:  # dense lobar (consolidation) or fluffy (pneumonia) opacity
            x, y = op.lung_point(op.side(), -0.2, 0.6)
            r = rng.uniform(*size)
            op.blob(
                x,
                y,
                r,
                r * rng.uniform(0.6, 1.0),
                value,
                2.0 if finding == "Consolidation" else 3.5,
                rng.uniform(0, 180),
            )
            where[finding] = (x - r, y - r, 2 * r, 2 * r)
    if "Infiltration" in findings:  # patchy, ill-defined opacities in one region
        x0, y0 = op.lung_point(op.side(), -0.5, 0.5)
        for _ in range(int(rng.integers(3, 7))):
            op.blob(
                x0 + rng.normal(0, 5), y0 + rng.normal(0, 6), rng.uniform(2, 5), rng.uniform(2, 5), 0.14, 2.5
            )
        where["Infiltration"] = (x0 - 12, y0 - 14, 24, 28)
    if "Edema" in findings:  # bilateral perihilar haze ("bat wings")
        for sd in (-1, 1):
            op.blob(chest.cx + sd * 0.14 * s, chest.cy, 0.09 * s, 0.16 * s, rng.uniform(0.12, 0.2), 5.0)


def _draw_focal_findings(op: _Opacities, findings: set[str], where: dict[str, tuple]) -> None:
    """Mass, nodules, fibrosis, pleural thickening and hernia: lesions and lines with their own shapes."""
    import cv2

    rng, chest = op.rng, op.chest
    if "Mass" in findings:
        x, y = op.lung_point(op.side())
        r = rng.uniform(6, 10)
        op.blob(x, y, r, r * rng.uniform(0.8, 1.0), rng.uniform(0.22, 0.32), 1.0)
        where["Mass"] = (x - r, y - r, 2 * r, 2 * r)
    if "Nodule" in findings:
        pts = []
        for _ in range(int(rng.integers(1, 4))):
            x, y = op.lung_point(op.side())
            op.blob(x, y, rng.uniform(1.5, 3.5), rng.uniform(1.5, 3.5), rng.uniform(0.2, 0.35), 0.6)
            pts.append((x, y))
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        where["Nodule"] = (min(xs) - 4, min(ys) - 4, max(xs) - min(xs) + 8, max(ys) - min(ys) + 8)
    if "Fibrosis" in findings:  # reticular lines, basal and peripheral, both sides
        _draw_fibrosis(op)
    if "Pleural_Thickening" in findings:  # a bright rim along the lateral chest wall
        sd = op.side()
        lx, ly = chest.centres[(sd + 1) // 2]
        cv2.ellipse(
            op.layer,
            (round(lx), round(ly)),
            (round(chest.lung_w), round(chest.lung_h)),
            sd * 4,
            -60 if sd > 0 else 120,
            60 if sd > 0 else 240,
            rng.uniform(0.2, 0.3),
            2,
            cv2.LINE_AA,
        )
    if "Hernia" in findings:  # a retrocardiac round opacity with an air-fluid level
        x, y = chest.hx + rng.normal(0, 3), chest.hy + 0.08 * SIZE
        r = rng.uniform(6, 9)
        op.blob(x, y, r, r, 0.15, 0.8)
        cv2.rectangle(
            op.layer, (round(x - r * 0.8), round(y - r * 0.7)), (round(x + r * 0.8), round(y)), -0.25, -1
        )
        cv2.line(op.layer, (round(x - r * 0.8), round(y)), (round(x + r * 0.8), round(y)), 0.2, 1)


def _draw_fibrosis(op: _Opacities) -> None:
    """Short reticular lines scattered over the lower lungs."""
    import cv2

    rng = op.rng
    layer = np.zeros((SIZE, SIZE), np.float32)
    for _ in range(int(rng.integers(15, 30))):
        x, y = op.lung_point(op.side(), 0.0, 0.85)
        a = rng.uniform(0, math.pi)
        d = rng.uniform(3, 7)
        cv2.line(
            layer,
            (round(x), round(y)),
            (round(x + d * math.cos(a)), round(y + d * math.sin(a))),
            0.12,
            1,
            cv2.LINE_AA,
        )
    op.layer += layer * op.chest.lungs


def _draw_pneumothorax(
    rng: np.random.Generator, img: np.ndarray, chest: _Chest, where: dict[str, tuple]
) -> np.ndarray:
    """An apical/lateral lucency without markings, with a pleural line; returns the new image."""
    import cv2

    s = SIZE
    sd = int(rng.choice([-1, 1]))
    lx, ly = chest.centres[(sd + 1) // 2]
    lung_w, lung_h = chest.lung_w, chest.lung_h
    rim = np.zeros((s, s), np.float32)
    cv2.ellipse(rim, (round(lx), round(ly)), (round(lung_w), round(lung_h)), sd * 4, 0, 360, 1.0, -1)
    inner = np.zeros((s, s), np.float32)
    shrink = rng.uniform(0.65, 0.85)
    collapsed = (  # the collapsed lung: centre, axes, angle
        (round(lx - sd * (1 - shrink) * lung_w * 0.5), round(ly + (1 - shrink) * lung_h * 0.5)),
        (round(lung_w * shrink), round(lung_h * shrink)),
        sd * 4,
    )
    cv2.ellipse(inner, *collapsed, 0, 360, 1.0, -1)
    gap = np.clip(rim - inner, 0, 1)
    img = img * (1 - gap) + gap * (img.min() + 0.02)
    cv2.ellipse(img, *collapsed, 0, 360, 0.35, 1, cv2.LINE_AA)  # the pleural line
    where["Pneumothorax"] = (
        lx - lung_w,
        ly - lung_h,
        2 * lung_w,
        2 * lung_h * (1 - shrink) + lung_h * 0.6,
    )
    return img


def _draw_distractors(rng: np.random.Generator, img: np.ndarray, chest: _Chest, sex: str) -> None:
    """Nipple and breast shadows, ECG leads and a side marker, drawn into ``img``."""
    import cv2

    s, cx, cy = SIZE, chest.cx, chest.cy
    if sex == "F" or rng.random() < 0.3:
        for sd in (-1, 1):
            cv2.circle(img, (round(cx + sd * 0.22 * s), round(cy + 0.22 * s)), 2, 0.08, -1, cv2.LINE_AA)
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 4))):
            x, y = rng.uniform(0.15, 0.85) * s, rng.uniform(0.15, 0.85) * s
            cv2.circle(img, (round(x), round(y)), 3, 0.6, 1, cv2.LINE_AA)
            cv2.line(img, (round(x), round(y)), (round(rng.uniform(0, s)), 0), 0.5, 1, cv2.LINE_AA)
    if rng.random() < 0.7:
        mx = int(rng.choice([6, s - 14]))
        cv2.line(img, (mx, 5), (mx, 13), 0.9, 1)  # an "L" side marker
        cv2.line(img, (mx, 13), (mx + 5, 13), 0.9, 1)


def _acquire(rng: np.random.Generator, img: np.ndarray, where: dict[str, tuple]) -> np.ndarray:
    """Pose (the boxes in ``where`` move with it), exposure, blur and noise; returns the float image."""
    import cv2

    s = SIZE
    angle, scale = rng.uniform(-4, 4), rng.uniform(0.93, 1.07)
    matrix = cv2.getRotationMatrix2D((s / 2, s / 2), angle, scale)
    matrix[:, 2] += rng.normal(0, 2.5, 2)
    img = cv2.warpAffine(img, matrix, (s, s), borderMode=cv2.BORDER_REPLICATE)
    for key, (x, y, w, h) in list(where.items()):
        corners = (
            np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]], np.float32) @ matrix.T
        )
        x0, y0 = np.clip(corners.min(0), 0, s - 1)
        x1, y1 = np.clip(corners.max(0), 0, s - 1)
        where[key] = (float(x0), float(y0), float(max(x1 - x0, 1)), float(max(y1 - y0, 1)))
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 0.9))
    img = img * rng.uniform(0.85, 1.15) + rng.uniform(-0.05, 0.05)
    img = np.clip(img, 0, 1) ** rng.uniform(0.8, 1.25)
    img += rng.normal(0, rng.uniform(0.01, 0.03), (s, s)).astype(np.float32)
    return img
