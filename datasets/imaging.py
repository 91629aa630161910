"""Robust image IO shared by every adapter: read anything, trust no size, write PNG.

Readers never assume an image size or dtype: DICOM, PNG and JPEG of any size and
bit depth come back as uint8 (HxW grey or HxWx3 RGB) after a robust window, and
a broken file (truncated, not an image) is reported with its path instead of
crashing a whole prepare. cv2 and pydicom are imported inside the functions so
``import medzoo`` stays light.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from pathlib import Path

import numpy as np

from medzoo.errors import DatasetFormatError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm")
#: larger images are refused before decoding: a few hundred bytes can declare gigapixels (a bomb);
#: the largest real inputs (full-field mammograms, ~6000 x 4800) are far below it
MAX_IMAGE_PIXELS = 100_000_000
#: smaller images are refused: a 1x1 "image" is a broken export, not data to learn from
MIN_IMAGE_SIDE = 8
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: files an OS or archiver leaves behind; never data
STRAY_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", ".directory", "icon\r"})


def is_stray(path: str | Path) -> bool:
    """True for OS litter (.DS_Store, Thumbs.db, AppleDouble ``._x``, anything under ``__MACOSX``)."""
    p = Path(path)
    return p.name.lower() in STRAY_NAMES or p.name.startswith("._") or "__MACOSX" in p.parts


def has_image_suffix(path: str | Path, suffixes: tuple[str, ...] = IMAGE_EXTENSIONS) -> bool:
    """Case-insensitive extension test (real downloads mix ``.jpg`` and ``.JPG``)."""
    return Path(path).suffix.lower() in suffixes


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def to_uint8(array: np.ndarray, *, low_pct: float = 0.5, high_pct: float = 99.5) -> np.ndarray:
    """Scale any numeric image to uint8 with a robust percentile window.

    uint8 passes through unchanged. Other dtypes (int16 MRI, 12/16-bit mammograms,
    floats) are windowed between the ``low_pct``/``high_pct`` percentiles of their
    finite values, so a few hot pixels do not crush the contrast. A constant image
    maps to zeros.
    """
    a = np.asarray(array)
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if not (0.0 <= low_pct < high_pct <= 100.0):
        raise ValueError(
            f"0 <= low_pct < high_pct <= 100 must hold, got low_pct={low_pct}, high_pct={high_pct}"
        )
    f = a.astype(np.float64)
    finite = f[np.isfinite(f)]
    bounds = window_bounds(finite, low_pct=low_pct, high_pct=high_pct) if finite.size else None
    if bounds is None:
        return np.zeros(a.shape, np.uint8)
    lo, hi = bounds
    f = np.nan_to_num(f, nan=lo, posinf=hi, neginf=lo)
    return np.clip((f - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255).astype(np.uint8)


def window_bounds(values: np.ndarray, *, low_pct: float, high_pct: float) -> tuple[float, float] | None:
    """The (low, high) intensity window of non-empty finite ``values``: their percentiles, else min/max.

    None when the values are constant, so the caller decides what a flat image becomes.
    """
    lo, hi = (float(x) for x in np.percentile(values, [low_pct, high_pct]))
    if hi <= lo:
        lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if hi > lo else None


def size_problem(width: int, height: int, frames: int = 1) -> str | None:
    """Why an image of this declared size is refused (degenerate or a decompression bomb), or None."""
    if width < MIN_IMAGE_SIDE or height < MIN_IMAGE_SIDE:
        return (
            f"the image is {width}x{height} pixels; at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} must hold "
            "(a degenerate image carries nothing to learn); remove or re-export the file"
        )
    pixels = width * height * max(frames, 1)
    if pixels > MAX_IMAGE_PIXELS:
        frames_text = f" x {frames} frames" if frames > 1 else ""
        return (
            f"the header declares {width}x{height}{frames_text} = {pixels} pixels, more than the "
            f"{MAX_IMAGE_PIXELS} medzoo decodes (a decompression bomb or a broken header); remove the file"
        )
    return None


def declared_size(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, frames) from the header of PNG, JPEG, BMP or DICOM bytes, without decoding pixels.

    None when the format is not one of those or the header is unreadable (decoding then reports it).
    """
    try:
        if data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return width, height, 1
        if data[:3] == b"\xff\xd8\xff":
            return _jpeg_size(data)
        if data[:2] == b"BM" and len(data) >= 26:
            width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height), 1
        if len(data) > 132 and data[128:132] == b"DICM":
            return _dicom_size(data)
    except (struct.error, ValueError):
        return None
    return None


#: JPEG start-of-frame markers (baseline, progressive, lossless, ...); C4, C8 and CC are not frames
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int, int] | None:
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:
            i += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height, 1
        i += 2 + length
    return None


def _dicom_size(data: bytes) -> tuple[int, int, int] | None:
    import pydicom

    try:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        return int(ds.Columns), int(ds.Rows), int(getattr(ds, "NumberOfFrames", 1) or 1)
    except Exception:  # pydicom raises many types on broken headers; decoding reports them
        return None


def header_problem(data: bytes) -> str | None:
    """Why the size that ``data``'s header declares is refused, or None (also when it declares none)."""
    size = declared_size(data)
    return None if size is None else size_problem(*size)


def verify_image_bytes(data: bytes) -> str | None:
    """Why ``data`` is not a complete PNG/JPEG/DICOM image, or None when it is (decodes it once)."""
    problem = truncation(data) or header_problem(data)
    if problem is not None:
        return problem
    try:
        decode_image(data)
    except DatasetFormatError as exc:
        return exc.message
    return None


def truncation(data: bytes) -> str | None:
    """A cheap completeness check: empty files and missing JPEG EOI / PNG IEND markers.

    Truncated JPEGs decode "successfully" in many libraries with grey bottoms,
    so the end markers are checked explicitly.
    """
    if len(data) == 0:
        return "empty file (0 bytes)"
    if data[:3] == b"\xff\xd8\xff" and b"\xff\xd9" not in data[-1024:]:
        return "truncated JPEG: no end-of-image marker (FFD9); re-download or re-extract the file"
    if data[:8] == PNG_SIGNATURE and b"IEND" not in data[-32:]:
        return "truncated PNG: no IEND chunk; re-download or re-extract the file"
    return None


def decode_image(data: bytes, *, name: str | None = None, grey: bool = False) -> np.ndarray:
    """Decode PNG/JPEG/TIFF/BMP/DICOM bytes to uint8 HxW or HxWx3 RGB (``grey`` forces HxW)."""
    import cv2

    prefix = f"{name}: " if name else ""
    too_big = header_problem(data)
    if too_big is not None:
        raise DatasetFormatError(prefix + too_big)
    if len(data) > 132 and data[128:132] == b"DICM":
        img = _decode_dicom(data, name)
    else:
        buf = np.frombuffer(data, np.uint8)
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
        if img is None:
            raise DatasetFormatError(
                f"{name + ': ' if name else ''}not a readable image (PNG, JPEG, TIFF, BMP or DICOM); found {len(data)} bytes "
                f"starting {data[:8]!r}; re-download or remove the file"
            )
        if img.ndim == 3 and img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
        elif img.ndim == 3 and img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        elif img.ndim == 3 and img.shape[2] == 1:
            img = img[:, :, 0]
        img = to_uint8(img)
    if grey and img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    degenerate = size_problem(img.shape[1], img.shape[0])
    if degenerate is not None:  # formats without a header check (TIFF) land here
        raise DatasetFormatError(prefix + degenerate)
    return np.ascontiguousarray(img)


def read_image(path: str | os.PathLike[str], *, grey: bool = False) -> np.ndarray:
    """Read any PNG/JPEG/TIFF/BMP/DICOM file as uint8 (HxW grey or HxWx3 RGB)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetFormatError(
            f"{path}: cannot be read ({exc.strerror}); check the path and permissions"
        ) from exc
    problem = truncation(data)
    if problem is not None:
        raise DatasetFormatError(f"{path}: {problem}")
    return decode_image(data, name=str(path), grey=grey)


def _decode_dicom(data: bytes, name: str | None) -> np.ndarray:
    import pydicom

    prefix = f"{name}: " if name else ""
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        arr = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for broken files
        raise DatasetFormatError(
            f"{prefix}DICOM pixel data cannot be decoded ({exc}); re-download the file"
        ) from exc
    arr = np.asarray(arr)
    if arr.dtype.kind == "f" and not np.isfinite(arr).any():
        raise DatasetFormatError(
            f"{prefix}every pixel is NaN or infinite; the file holds no image, remove or re-export it"
        )
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        arr = arr.max() - arr
    if arr.ndim == 3 and arr.shape[-1] not in (3, 4):
        arr = arr[0]  # multi-frame: the first frame
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    if slope != 1 or intercept != 0:
        arr = arr.astype(np.float64) * slope + intercept
    return to_uint8(arr)


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8 HxW or HxWx3 RGB array (deterministic, so sha256 identifies content)."""
    import cv2

    a = np.asarray(array)
    if a.dtype != np.uint8:
        raise ValueError(f"encode_png needs uint8, got {a.dtype}; scale with to_uint8() first")
    if a.ndim == 3 and a.shape[2] == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    elif a.ndim != 2:
        raise ValueError(f"encode_png needs HxW or HxWx3, got shape {a.shape}")
    ok, buf = cv2.imencode(".png", a, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError(f"PNG encoding failed for an array of shape {a.shape}")
    return buf.tobytes()


def encode_jpeg(array: np.ndarray, *, quality: int = 92) -> bytes:
    """JPEG bytes of a uint8 HxW or HxWx3 RGB array (phantoms of JPEG datasets)."""
    import cv2

    a = np.asarray(array)
    if a.ndim == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", a, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG encoding failed for an array of shape {a.shape}")
    return buf.tobytes()


def write_png(path: str | os.PathLike[str], array: np.ndarray) -> str:
    """Write ``array`` as PNG to ``path`` (parents created); returns the sha256 of the bytes written."""
    data = encode_png(array)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return sha256_bytes(data)


def resize_square(image: np.ndarray, size: int, *, nearest: bool = False) -> np.ndarray:
    """Resize to ``size`` x ``size`` (area interpolation down, cubic up; nearest for masks)."""
    import cv2

    if size < 1:
        raise ValueError(f"size >= 1 must hold, got size={size}")
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA if size < min(h, w) else cv2.INTER_CUBIC
    return cv2.resize(image, (size, size), interpolation=interp)


def perceptual_hash(image: np.ndarray, *, hash_size: int = 16) -> np.ndarray:
    """DCT perceptual hash (pHash) as a bool vector of ``hash_size**2`` bits.

    Robust to re-encoding, resizing and mild contrast changes, so a figshare slice
    re-released as a JPEG in another dataset still matches its original.
    """
    import cv2

    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    side = hash_size * 4
    small = cv2.resize(grey.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA)
    dct = cv2.dct(small)[:hash_size, :hash_size]
    flat = dct.ravel()
    return flat > np.median(flat[1:])


def hamming_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances between two stacks of bool hashes (N,bits) x (M,bits) -> (N,M)."""
    pa = np.packbits(np.asarray(a, bool), axis=1)
    pb = np.packbits(np.asarray(b, bool), axis=1)
    out = np.zeros((pa.shape[0], pb.shape[0]), np.int32)
    for j in range(pa.shape[1]):
        out += np.bitwise_count(pa[:, j : j + 1] ^ pb[None, :, j]).astype(np.int32)
    return out
