"""figshare-brain: Cheng et al.'s 3064 T1-CE slices (233 patients) as MATLAB v7.3 files.

Reader quirks (DATASETS.md): files are HDF5 behind a 512-byte MATLAB user block
(h5py, never scipy); arrays come back transposed (``.T``); PID is a uint16 char
array; ``tumorMask`` is a logical mask; images are 512x512 or 256x256 int16 (any
size is accepted); ``cvind.mat`` holds the official patient-level 5 folds. Users
extract the download in many ways, so ``*.mat`` files are found recursively, in
the inner zips, or in the outer zip holding the inner zips.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from medzoo.datasets import matlab
from medzoo.datasets.base import (
    DatasetAdapter,
    DatasetSpec,
    PreparedItem,
    Problem,
    RawRecord,
    Scan,
    register_dataset,
)
from medzoo.datasets.imaging import is_stray, resize_square, to_uint8
from medzoo.datasets.phantom import bias_field, blob_mask, smooth_noise, soft
from medzoo.datasets.preprocess import roi_crop
from medzoo.errors import DatasetFormatError

CLASSES = ("meningioma", "glioma", "pituitary")  # .mat label 1, 2, 3

SPEC = DatasetSpec(
    id="figshare-brain",
    title="Figshare brain tumour dataset (Cheng et al.)",
    task="multiclass",
    classes=CLASSES,
    modality="MRI (T1-weighted contrast-enhanced, 2D slices)",
    citation="Cheng J. et al., Enhanced Performance of Brain Tumor Classification via Tumor Region "
    "Augmentation and Partition, PLoS ONE 10(10): e0140381, 2015; figshare doi:10.6084/m9.figshare.1512427",
    licence="CC BY 4.0 (figshare release); cite Cheng et al. 2015",
    layouts=(
        "figshare: <n>.mat (MATLAB v7.3) found recursively, or inside brainTumorDataPublic_*.zip, "
        "or inside the outer download zip; cvind.mat with the official 5 folds",
    ),
    split_protocols=("official", "patient", "image"),
    default_split="official",
    has_patient_ids=True,
    has_masks=True,
    primary_metric="accuracy",
    secondary_metrics=("macro_f1",),
    image_size=240,
    channels=1,
    recipe="brain-effnet",
    notes=(
        "official split: cvind.mat's patient-level folds; fold 5 is the held-out test set, folds 1-4 are "
        "cross-validation folds 0-3 (fold 0 = default validation)",
        "the study's own numbers come from an image-level 80/20 split that leaks patients",
    ),
)


@register_dataset
class FigshareBrain(DatasetAdapter):
    spec = SPEC
    default_params: dict[str, Any] = {
        "window_low_pct": 0.5,
        "window_high_pct": 99.5,
        "roi_crop": True,
        "threshold": 50,
        "blur": 5,
        "erode": 2,
        "dilate": 2,
        "pad": 12,
    }
    steps = (
        "window: int16 -> uint8 between the window_low_pct/window_high_pct percentiles",
        "roi_crop: threshold, blur x blur Gaussian, erode, dilate, largest external contour, pad, crop",
        "resize: image_size x image_size (area), mask nearest",
    )

    # --- reading -----------------------------------------------------------------------------

    def scan(self, raw: Path) -> Scan:
        problems: list[Problem] = []
        mats: list[str] = []
        cvind: np.ndarray | None = None
        cvind_source = ""
        for source in _find_mats(raw, problems):
            if Path(source.split(matlab.SEP)[-1]).name.lower() == "cvind.mat":
                data = _read_bytes(raw, source, problems)
                try:
                    if data is not None:
                        cvind, cvind_source = _read_cvind(data), source
                except DatasetFormatError as exc:
                    problems.append(Problem(source, exc.message))
                continue
            mats.append(source)
        records: list[RawRecord] = []
        seen: dict[int, str] = {}
        duplicates = 0
        for source in sorted(mats, key=_sort_key):
            data = _read_bytes(raw, source, problems)
            if data is None:
                continue
            try:
                fields = _read_cjdata(data, source, full=True)
            except DatasetFormatError as exc:
                problems.append(Problem(source, exc.message))
                continue
            number = _number(source)
            if number is not None and number in seen:
                duplicates += (
                    1  # the same slice loose and inside a zip: keep the first (loose copies sort first)
                )
                continue
            if number is not None:
                seen[number] = source
            fold = None
            if cvind is not None and number is not None and 1 <= number <= cvind.size:
                fold = int(cvind[number - 1])
            records.append(
                RawRecord(
                    source=source,
                    label=fields["label"] - 1,
                    labels=(CLASSES[fields["label"] - 1],),
                    patient_id=fields["pid"],
                    official_fold=fold,
                    extra={"number": number, "shape": fields["shape"]},
                )
            )
        if duplicates:
            problems.append(
                Problem(
                    ".", f"{duplicates} slice(s) found twice (loose and inside a zip); used one copy of each"
                )
            )
        if cvind is None:
            problems.append(
                Problem(
                    "cvind.mat",
                    "not found: the official patient-level 5 folds are unavailable; "
                    "prepare falls back to a patient-level split",
                )
            )
        elif records and any(r.official_fold is None for r in records):
            missing = sum(r.official_fold is None for r in records)
            problems.append(
                Problem(
                    cvind_source,
                    f"has {cvind.size} entries but {missing} slice(s) have no fold "
                    "(file number missing or beyond cvind); official folds unavailable",
                )
            )
            records = [dataclasses.replace(r, official_fold=None) for r in records]
        return Scan(records=records, problems=problems, layout=_layout_name(mats))

    def load(self, raw: Path, record: RawRecord, params: dict[str, Any]) -> list[PreparedItem]:
        try:
            data = matlab.read_source(raw, record.source)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise DatasetFormatError(
                f"{record.source}: cannot be read ({exc}); re-extract the download"
            ) from exc
        fields = _read_cjdata(data, record.source, full=True)
        image = to_uint8(
            fields["image"], low_pct=params["window_low_pct"], high_pct=params["window_high_pct"]
        )
        mask = (fields["mask"] > 0).astype(np.uint8) * 255
        if params["roi_crop"]:
            image, mask, _ = roi_crop(
                image,
                mask,
                threshold=params["threshold"],
                blur=params["blur"],
                erode=params["erode"],
                dilate=params["dilate"],
                pad=params["pad"],
            )
        size = params["image_size"]
        image = resize_square(image, size)
        mask = (resize_square(mask, size, nearest=True) > 127).astype(np.uint8) * 255
        number = record.extra.get("number")
        key = f"slice-{number:04d}" if number is not None else _safe_key(record.source)
        return [PreparedItem(key=key, image=image, mask=mask)]

    # --- phantom -------------------------------------------------------------------------------

    def synthesize(self, out: Path, *, patients: int, seed: int) -> None:
        write_phantom(out, patients=patients, seed=seed)


# --- reader helpers ----------------------------------------------------------------------------


def _find_mats(raw: Path, problems: list[Problem]):
    """Yield the source of every .mat file: on disk, in a zip, or in a zip inside a zip."""
    for dirpath, dirnames, filenames in os.walk(raw):
        dirnames[:] = sorted(d for d in dirnames if d != "__MACOSX")
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(raw).as_posix()
            if is_stray(name):
                continue
            low = name.lower()
            if low.endswith(".mat"):
                yield rel
            elif low.endswith(".zip"):
                try:
                    zf = zipfile.ZipFile(path)
                    for source, _zip, member in matlab.iter_zip_members(zf, rel, depth=1):
                        if (
                            member.lower().endswith(".mat")
                            and "__MACOSX" not in member
                            and not is_stray(member)
                        ):
                            yield source
                except (zipfile.BadZipFile, OSError) as exc:
                    problems.append(Problem(rel, f"not a readable zip ({exc}); re-download or extract it"))


def _read_bytes(raw: Path, source: str, problems: list[Problem]) -> bytes | None:
    try:
        return matlab.read_source(raw, source)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        problems.append(Problem(source, f"cannot be read ({exc}); re-extract the download"))
        return None


def _read_cvind(data: bytes) -> np.ndarray:
    try:
        with matlab.open_h5(data) as f:
            if "cvind" not in f:
                raise DatasetFormatError(f"cvind.mat must hold a dataset /cvind; found {sorted(f.keys())}")
            folds = np.asarray(f["cvind"][()], dtype=np.float64).ravel()
    except OSError as exc:
        raise DatasetFormatError(f"not a MATLAB v7.3 (HDF5) file ({exc}); re-extract cvind.mat") from exc
    if folds.size == 0 or not np.all(np.isin(folds, np.arange(1, 11))):
        raise DatasetFormatError(
            f"cvind values must be fold numbers 1..5, found {np.unique(folds)[:8].tolist()}"
        )
    return folds.astype(int)


def _read_cjdata(data: bytes, source: str, *, full: bool) -> dict[str, Any]:
    """label (1..3), pid, shape, and with ``full`` the image and mask (transposed back)."""
    if matlab.is_mat_v5(data):
        raise DatasetFormatError(f"{source}: a MATLAB v5 file; figshare slices must be MATLAB v7.3 (HDF5)")
    try:
        with matlab.open_h5(data) as f:
            if "cjdata" not in f:
                raise DatasetFormatError(f"{source}: must hold the struct /cjdata; found {sorted(f.keys())}")
            g = f["cjdata"]
            missing = [k for k in ("label", "PID", "image", "tumorMask") if k not in g]
            if missing:
                raise DatasetFormatError(f"{source}: /cjdata lacks {missing}; re-extract the file")
            label_arr = np.asarray(g["label"][()], dtype=np.float64).ravel()
            pid = matlab.decode_char(g["PID"][()])
            out: dict[str, Any] = {"pid": pid, "shape": tuple(reversed(g["image"].shape))}
            if full:
                out["image"] = np.asarray(g["image"][()]).T
                out["mask"] = np.asarray(g["tumorMask"][()]).T
    except DatasetFormatError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetFormatError(
            f"{source}: not a readable MATLAB v7.3 (HDF5) file ({exc}); "
            "the file is corrupt or truncated, re-extract it"
        ) from exc
    if label_arr.size != 1 or label_arr[0] not in (1.0, 2.0, 3.0):
        raise DatasetFormatError(f"{source}: cjdata.label must be 1, 2 or 3, found {label_arr.tolist()}")
    if not pid:
        raise DatasetFormatError(f"{source}: cjdata.PID is empty; the slice has no patient id")
    if full:
        if out["image"].ndim != 2:
            raise DatasetFormatError(f"{source}: cjdata.image must be 2-D, found shape {out['image'].shape}")
        if out["mask"].shape != out["image"].shape:
            raise DatasetFormatError(
                f"{source}: tumorMask shape {out['mask'].shape} must equal image shape {out['image'].shape}"
            )
    out["label"] = int(label_arr[0])
    return out


def _number(source: str) -> int | None:
    stem = Path(source.split(matlab.SEP)[-1]).stem
    return int(stem) if stem.isdigit() else None


def _sort_key(source: str) -> tuple[int, int, str]:
    n = _number(source)
    return (source.count(matlab.SEP), n if n is not None else 1 << 30, source)


def _safe_key(source: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in source)


def _layout_name(mats: list[str]) -> str:
    zipped = sum(matlab.SEP in s for s in mats)
    if zipped and zipped < len(mats):
        return "figshare: loose .mat files and zips"
    return "figshare: inner zips" if zipped else "figshare: extracted .mat files"


# --- phantom -----------------------------------------------------------------------------------


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
    # label-independent distractors: bright vessels / sinus, a bright spot anywhere
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
    if t is None:  # no tumour (kaggle's no-tumour class)
        m = np.zeros(shape, bool)
        img = img * (1 - 0.35) + cv2.GaussianBlur(img, (5, 5), 1.2) * 0.35
    else:
        img, m = _draw_tumour(rng, img, label, t, z, rr=rr, brain=brain, xx=xx, yy=yy, head=head)
    img *= bias_field(rng, shape, strength=0.35)
    img = img + head["noise"] * rng.standard_normal(shape).astype(np.float32)
    img = np.abs(img)  # magnitude images: Rician-like floor
    img *= head["scale"]
    if head["flip"]:
        img, m = img[:, ::-1], m[:, ::-1]
    return np.clip(img, 0, 32767).round(), np.ascontiguousarray(m)


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
