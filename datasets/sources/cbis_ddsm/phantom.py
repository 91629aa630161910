"""A CBIS-DDSM mass phantom in TCIA's native DICOM layout, quirks included.

Real DICOM files (pydicom) carry the UIDs and SeriesDescriptions; the folders use
TCIA's descriptive names, which do not match the CSV paths; crop and mask share a
series in about half the cases and their ``000000``/``000001`` names in the CSV are
shuffled. The CSVs have CRLF line ends and a quoted last field with an embedded
newline, ``NA`` shapes/margins and BENIGN_WITHOUT_CALLBACK. Masses differ by margin:
benign ones are smooth (round, oval, gently lobulated), malignant ones irregular and
spiculated; size, contrast, density, noise, vessels, calcifications and look-alike
blobs vary so a classifier has to learn the margin, not a shortcut.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

HEADER = (
    "patient_id,breast_density,left or right breast,image view,abnormality id,abnormality type,mass shape,"
    "mass margins,assessment,pathology,subtlety,image file path,cropped image file path,ROI mask file path"
)
CALC_HEADER = (
    "patient_id,breast density,left or right breast,image view,abnormality id,abnormality type,calc type,"
    "calc distribution,assessment,pathology,subtlety,image file path,cropped image file path,ROI mask file path"
)
_UID_ROOT = "1.3.6.1.4.1.9590.100.1.2."


def write_phantom(out: Path, *, patients: int, seed: int) -> None:
    """Write ``patients`` patients (about a quarter in the official test set) under ``out``."""

    rng = np.random.default_rng(seed)
    uids = _Uids(rng)
    numbers = np.sort(rng.choice(np.arange(1, 2000), size=patients, replace=False))
    malignant = rng.permutation(np.arange(patients) % 2 == 1)
    test = _pick_test(rng, malignant, patients)
    lines: dict[str, list[str]] = {"train": [], "test": []}
    for number, is_malignant, is_test in zip(numbers, malignant, test, strict=True):
        split = "test" if is_test else "train"
        pid = f"P_{number:05d}"
        side = "LEFT" if rng.random() < 0.5 else "RIGHT"
        views = ["CC", "MLO"] if rng.random() < 0.7 else [str(rng.choice(["CC", "MLO"]))]
        density = int(rng.integers(1, 5))
        for view in views:
            case = f"Mass-{'Test' if is_test else 'Training'}_{pid}_{side}_{view}"
            n_masses = 1 if rng.random() < 0.85 else 2
            full, masks, kinds = _render(
                rng, side=side, density=density, malignant=bool(is_malignant), n=n_masses
            )
            full_study, full_series = uids.new(), uids.new()
            _write_dicom(out, rng, case, full_study, full_series, "full mammogram images", [full], side, uids)
            for abn, (mask, kind) in enumerate(zip(masks, kinds, strict=True), start=1):
                roi_case = f"{case}_{abn}"
                crop = _crop(full, mask)
                study = uids.new()
                crop_series, mask_series = _write_roi(out, rng, uids, roi_case, study, crop, mask, side)
                names = ["000000.dcm", "000001.dcm"]
                rng.shuffle(names)  # the CSV's file names say nothing about which is which
                shape, margins, pathology = _describe(rng, kind, bool(is_malignant))
                fields = [
                    pid,
                    str(density),
                    side,
                    view,
                    str(abn),
                    "mass",
                    shape,
                    margins,
                    str(int(rng.integers(4, 6)) if is_malignant else int(rng.integers(2, 5))),
                    pathology,
                    str(int(rng.integers(1, 6))),
                    f"{case}/{full_study}/{full_series}/000000.dcm",
                    f"{roi_case}/{study}/{crop_series}/{names[0]}",
                ]
                mask_path = f"{roi_case}/{study}/{mask_series}/{names[1]}"
                lines[split].append(",".join(fields) + f',"{mask_path}\n"')
    _write_csvs(out, lines)


def _pick_test(rng: np.random.Generator, malignant: np.ndarray, patients: int) -> np.ndarray:
    """Which patients are in the official test set: about a quarter, from both classes."""
    n_test = max(2, round(patients * 0.25))
    test = np.zeros(patients, bool)
    for cls in (False, True):  # both classes in the test set
        idx = np.flatnonzero(malignant == cls)
        test[rng.choice(idx, size=min(len(idx), (n_test + int(cls)) // 2), replace=False)] = True
    return test


def _write_roi(
    out: Path,
    rng: np.random.Generator,
    uids: _Uids,
    roi_case: str,
    study: str,
    crop: np.ndarray,
    mask: np.ndarray,
    side: str,
) -> tuple[str, str]:
    """Write one abnormality's crop and mask; returns their series UIDs (one shared series, or two)."""
    if rng.random() < 0.5:  # crop and mask in one "ROI mask images" series, in either order
        series = uids.new()
        order = [crop, mask * 255] if rng.random() < 0.5 else [mask * 255, crop]
        _write_dicom(out, rng, roi_case, study, series, "ROI mask images", order, side, uids)
        return series, series
    crop_series, mask_series = uids.new(), uids.new()
    _write_dicom(out, rng, roi_case, study, crop_series, "cropped images", [crop], side, uids)
    _write_dicom(out, rng, roi_case, study, mask_series, "ROI mask images", [mask * 255], side, uids)
    return crop_series, mask_series


def _write_csvs(out: Path, lines: dict[str, list[str]]) -> None:
    """The two mass case CSVs (CRLF, as released) and a calc CSV that scan must leave alone."""
    out.mkdir(parents=True, exist_ok=True)
    for split, name in (
        ("train", "mass_case_description_train_set.csv"),
        ("test", "mass_case_description_test_set.csv"),
    ):
        (out / name).write_bytes(("\r\n".join([HEADER, *lines[split]]) + "\r\n").encode())
    # a calc CSV of the same shape (with "breast density"): present in real downloads, never pooled
    calc = f'P_09999,2,LEFT,CC,1,calcification,PLEOMORPHIC,CLUSTERED,4,MALIGNANT,3,Calc-Training_P_09999_LEFT_CC/{_UID_ROOT}1/{_UID_ROOT}2/000000.dcm,Calc-Training_P_09999_LEFT_CC_1/{_UID_ROOT}3/{_UID_ROOT}4/000000.dcm,"Calc-Training_P_09999_LEFT_CC_1/{_UID_ROOT}3/{_UID_ROOT}4/000001.dcm\n"'
    (out / "calc_case_description_train_set.csv").write_bytes(f"{CALC_HEADER}\r\n{calc}\r\n".encode())


class _Uids:
    """DICOM UIDs whose last five digits (TCIA's folder suffixes) are unique within the phantom."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng, self.suffixes = rng, set()

    def new(self) -> str:
        while True:
            a, b, c = (int(x) for x in self.rng.integers(10**8, 10**9, size=3))
            uid = f"{_UID_ROOT}{a}.{b}.{c}"
            if uid[-5:] not in self.suffixes:
                self.suffixes.add(uid[-5:])
                return uid


def _write_dicom(
    out: Path,
    rng: np.random.Generator,
    case: str,
    study: str,
    series: str,
    description: str,
    images: list[np.ndarray],
    side: str,
    uids: _Uids,
) -> list[str]:
    """Write one series in TCIA's descriptive layout; returns the relative paths."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
    folder = (
        out
        / "CBIS-DDSM"
        / case
        / f"{month:02d}-{day:02d}-2016-DDSM-{study[-5:]}"
        / (f"1.000000-{description}-{series[-5:]}")
    )
    folder.mkdir(parents=True, exist_ok=True)
    rels = []
    for k, image in enumerate(images, start=1):
        sop = uids.new()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, sop
        ds.PatientID = ds.PatientName = case
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SeriesDescription = description
        ds.Modality, ds.BodyPartExamined, ds.Laterality = "MG", "BREAST", side[0]
        ds.StudyDate = f"2016{month:02d}{day:02d}"
        ds.SeriesNumber, ds.InstanceNumber = 1, k
        ds.Rows, ds.Columns = image.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        bits = 8 if image.dtype == np.uint8 else 16
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
        ds.PixelData = np.ascontiguousarray(image).tobytes()
        path = folder / f"1-{k}.dcm"
        ds.save_as(path, enforce_file_format=True)
        rels.append(path.relative_to(out).as_posix())
    return rels


def _describe(rng: np.random.Generator, kind: str, malignant: bool) -> tuple[str, str, str]:
    shapes = {
        "smooth": ["OVAL", "ROUND"],
        "lobulated": ["LOBULATED"],
        "spiculated": ["IRREGULAR"],
        "ill_defined": ["IRREGULAR", "ARCHITECTURAL_DISTORTION"],
        "obscured": ["OVAL", "LOBULATED"],
    }
    margins = {
        "smooth": "CIRCUMSCRIBED",
        "lobulated": "CIRCUMSCRIBED",
        "spiculated": "SPICULATED",
        "ill_defined": "ILL_DEFINED",
        "obscured": "OBSCURED",
    }
    shape, margin = str(rng.choice(shapes[kind])), margins[kind]
    if rng.random() < 0.1:
        shape = "NA"
    if rng.random() < 0.08:
        margin = "NA"
    pathology = "MALIGNANT" if malignant else ("BENIGN_WITHOUT_CALLBACK" if rng.random() < 0.3 else "BENIGN")
    return shape, margin, pathology


def _render(
    rng: np.random.Generator, *, side: str, density: int, malignant: bool, n: int
) -> tuple[np.ndarray, list[np.ndarray], list[str]]:
    """A 12-bit mammogram (uint16) with ``n`` masses and their binary masks (uint8 {0,1})."""
    import cv2

    h, w = int(rng.integers(480, 545)), int(rng.integers(296, 345))  # sizes vary, as real scans do
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dist = xx if side == "LEFT" else (w - 1 - xx)  # distance from the chest wall
    a, b, cy = w * rng.uniform(0.78, 0.95), h * rng.uniform(0.38, 0.46), h * rng.uniform(0.46, 0.54)
    rho = np.sqrt((dist / a) ** 2 + ((yy - cy) / b) ** 2)
    breast = rho <= 1.0

    def smooth_noise(sigma: float) -> np.ndarray:
        f = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), sigma)
        return f / (f.std() + 1e-6)

    tissue = 1300 + 110 * density * smooth_noise(10) + 90 * smooth_noise(3) + 60 * density
    tissue *= 1.0 - 0.45 * np.clip(rho, 0, 1) ** 4  # thinner tissue near the skin line
    img = np.where(breast, tissue, 0).astype(np.float32)
    detail = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(3, 8))):  # vessels: thin, long, gently curved
        pts = _walk(rng, h, w, dist, a, b, cy)
        cv2.polylines(detail, [pts], False, float(rng.uniform(60, 160)), 1, cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 7))):  # benign calcifications
        y, x = _inside(rng, dist, a, b, cy, h, w, 0.9)
        cv2.circle(detail, (x, y), 1, float(rng.uniform(300, 700)), -1, cv2.LINE_AA)
    for _ in range(int(rng.integers(1, 4))):  # look-alike blobs: cysts, nodes, overlapping tissue
        y, x = _inside(rng, dist, a, b, cy, h, w, 0.8)
        blob = np.zeros((h, w), np.float32)
        cv2.ellipse(
            blob,
            (x, y),
            (int(rng.integers(4, 12)), int(rng.integers(4, 12))),
            float(rng.uniform(0, 180)),
            0,
            360,
            float(rng.uniform(120, 380)),
            -1,
            cv2.LINE_AA,
        )
        detail += cv2.GaussianBlur(blob, (0, 0), float(rng.uniform(1.5, 3.5)))
    masks, kinds = [], []
    for _ in range(n):
        kind = _kind(rng, malignant)
        y, x = _inside(rng, dist, a, b, cy, h, w, 0.7)
        r = float(rng.uniform(6, 16))
        mass, mask = _mass(rng, kind, (y, x), r, (h, w))
        img += mass * float(rng.uniform(250, 650))
        masks.append(mask)
        kinds.append(kind)
    img += np.where(breast, detail, 0)
    img = cv2.GaussianBlur(img, (0, 0), 0.6)
    img += rng.normal(0, rng.uniform(15, 55), (h, w)).astype(np.float32) * (0.3 + 0.7 * breast)
    if rng.random() < 0.5:  # a film label in a corner outside the breast
        y0 = int(rng.integers(5, h // 6))
        x0 = w - 60 if side == "LEFT" else 10
        img[y0 : y0 + 20, x0 : x0 + 45] = rng.uniform(2500, 3800)
    return np.clip(img, 0, 4095).astype(np.uint16), masks, kinds


def _kind(rng: np.random.Generator, malignant: bool) -> str:
    if malignant:
        return "spiculated" if rng.random() < 0.65 else "ill_defined"
    u = rng.random()
    return "smooth" if u < 0.45 else ("lobulated" if u < 0.75 else "obscured")


def _mass(
    rng: np.random.Generator, kind: str, centre: tuple[int, int], r: float, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(intensity map in [0, ~1], core mask {0,1}); the margin is the class signal."""
    import cv2

    theta = np.linspace(0, 2 * math.pi, 96, endpoint=False)
    radius = np.ones_like(theta)
    stretch = rng.uniform(0.0, 0.25)
    radius += stretch * np.cos(2 * (theta - rng.uniform(0, math.pi)))
    if kind in ("lobulated", "obscured"):
        for k in (3, 4, 5):
            radius += rng.uniform(0.03, 0.1) * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
    if kind in ("spiculated", "ill_defined"):
        for k in range(3, 12):
            radius += rng.uniform(0.04, 0.12) * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
    pts = np.stack([centre[1] + r * radius * np.cos(theta), centre[0] + r * radius * np.sin(theta)], 1)
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    edge_sigma = {"smooth": 0.6, "lobulated": 0.7, "obscured": 2.2, "spiculated": 0.8, "ill_defined": 2.0}[
        kind
    ]
    mass = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), edge_sigma * rng.uniform(0.8, 1.3))
    if kind in ("spiculated", "ill_defined"):
        spikes = np.zeros(shape, np.float32)
        count = int(rng.integers(8, 18)) if kind == "spiculated" else int(rng.integers(2, 7))
        for angle in rng.uniform(0, 2 * math.pi, count):
            length = r * rng.uniform(0.8, 2.0)
            x0, y0 = centre[1] + 0.8 * r * math.cos(angle), centre[0] + 0.8 * r * math.sin(angle)
            x1, y1 = x0 + length * math.cos(angle), y0 + length * math.sin(angle)
            cv2.line(
                spikes,
                (round(x0), round(y0)),
                (round(x1), round(y1)),
                float(rng.uniform(0.4, 0.85)),
                1 if rng.random() < 0.7 else 2,
                cv2.LINE_AA,
            )
        mass = np.maximum(mass, cv2.GaussianBlur(spikes, (0, 0), 0.5))
    if kind == "obscured":  # vessels crossing a benign mass: straight lines through it, not radial spicules
        lines = np.zeros(shape, np.float32)
        for angle in rng.uniform(0, math.pi, int(rng.integers(2, 5))):
            off = rng.normal(0, r * 0.5, 2)
            dx, dy = 2 * r * math.cos(angle), 2 * r * math.sin(angle)
            x, y = centre[1] + off[0], centre[0] + off[1]
            cv2.line(
                lines,
                (round(x - dx), round(y - dy)),
                (round(x + dx), round(y + dy)),
                float(rng.uniform(0.3, 0.6)),
                1,
                cv2.LINE_AA,
            )
        mass = np.maximum(mass, cv2.GaussianBlur(lines, (0, 0), 0.5))
    return mass, mask


def _inside(
    rng: np.random.Generator, dist: np.ndarray, a: float, b: float, cy: float, h: int, w: int, rmax: float
) -> tuple[int, int]:
    """A random point inside the breast, at most ``rmax`` of the way to the skin line."""
    while True:
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        if (dist[y, x] / a) ** 2 + ((y - cy) / b) ** 2 <= rmax**2:
            return y, x


def _walk(
    rng: np.random.Generator, h: int, w: int, dist: np.ndarray, a: float, b: float, cy: float
) -> np.ndarray:
    y, x = _inside(rng, dist, a, b, cy, h, w, 0.5)
    angle = rng.uniform(0, 2 * math.pi)
    pts = []
    for _ in range(int(rng.integers(8, 20))):
        pts.append((x, y))
        angle += rng.normal(0, 0.3)
        x = int(np.clip(x + 8 * math.cos(angle), 0, w - 1))
        y = int(np.clip(y + 8 * math.sin(angle), 0, h - 1))
    return np.array(pts, np.int32)


def _crop(full: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The dataset's own cropped image: the mask's bounding box plus a margin (small, unlike the mask)."""
    ys, xs = np.nonzero(mask)
    m = 10
    return np.ascontiguousarray(
        full[max(ys.min() - m, 0) : ys.max() + m + 1, max(xs.min() - m, 0) : xs.max() + m + 1]
    )
