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
from dataclasses import dataclass
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
        img = decode_dicom(data, name=name).pixels
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


#: BitsAllocated values DICOM defines; anything else is a broken or hostile header
_DICOM_BITS = frozenset({1, 8, 16, 32, 64})


@dataclass(frozen=True)
class DicomImage:
    """One decoded DICOM frame as the model sees it: ``pixels`` uint8 HxW grey or HxWx3 RGB.

    ``notes`` say what the decode did (window used, inversion, frame chosen), so prediction can
    show them; ``modality`` is the file's Modality (MR, MG, CR, ...) when it names one.
    """

    pixels: np.ndarray
    modality: str | None
    notes: tuple[str, ...]
    frames: int = 1


def decode_dicom(
    data: bytes, *, name: str | None = None, fallback_pct: tuple[float, float] | None = None
) -> DicomImage:
    """The one DICOM decode of medzoo, used by dataset preparation and by prediction alike.

    Order, so training and prediction see the same pixels: (1) the header's Rows, Columns,
    NumberOfFrames, SamplesPerPixel and BitsAllocated are checked before any pixel is decoded (a
    few MB of RLE can declare gigapixels); (2) only the first frame is decoded; (3) grey images
    go through pydicom's ``apply_modality_lut`` (rescale slope/intercept or Modality LUT) and
    ``apply_voi_lut`` (the file's own VOI LUT Sequence, else its WindowCenter/Width), and the
    VOI output range is mapped linearly onto 0-255; a file without any VOI transform is mapped
    min-max over its (modality-LUT) pixel values instead, or between the ``fallback_pct``
    percentiles when the caller gives them (CBIS-DDSM's window parameters); (4) MONOCHROME1 is
    inverted AFTER the LUTs (the LUTs are defined on stored values, the inversion is a display
    step); colour (RGB, YBR_*) is converted to RGB once with ``convert_color_space``.
    """
    import pydicom

    prefix = f"{name}: " if name else ""
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.BitsAllocated)
    except Exception as exc:  # pydicom raises many types on broken headers
        raise DatasetFormatError(
            f"{prefix}a DICOM file must carry an image header (Rows, Columns, BitsAllocated); "
            f"{type(exc).__name__}: {exc}; re-download or re-export the file"
        ) from exc
    why = size_problem(cols, rows, frames)
    if why is None and (bits not in _DICOM_BITS or samples not in (1, 3)):
        why = (
            f"the header declares BitsAllocated={bits}, SamplesPerPixel={samples}; DICOM images have "
            f"BitsAllocated in {sorted(_DICOM_BITS)} and 1 or 3 samples (a broken header); re-export the file"
        )
    if why is not None:
        raise DatasetFormatError(prefix + why)
    ds, arr = _dicom_first_frame(data, prefix)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    notes = [f"multi-frame DICOM ({frames} frames): using the first"] if frames > 1 else []
    modality = str(ds.get("Modality", "") or "") or None
    if arr.ndim == 3:
        if photometric.startswith("YBR"):
            from pydicom.pixels import convert_color_space

            arr = convert_color_space(arr, photometric, "RGB")
            notes.append(f"{photometric} converted to RGB")
        return DicomImage(
            pixels=np.ascontiguousarray(_minmax_uint8(arr)),
            modality=modality,
            notes=tuple(notes),
            frames=frames,
        )
    img, window_note = _dicom_grey(ds, arr, prefix, fallback_pct)
    notes.append(window_note)
    if photometric == "MONOCHROME1":
        img = 255 - img
        notes.append("MONOCHROME1: inverted after the LUTs")
    return DicomImage(pixels=np.ascontiguousarray(img), modality=modality, notes=tuple(notes), frames=frames)


def _dicom_first_frame(data: bytes, prefix: str):
    """(dataset, first frame) with no colour conversion yet: pydicom would turn YBR into RGB itself."""
    import pydicom

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        ds.pixel_array_options(index=0, as_rgb=False)
        arr = np.asarray(ds.pixel_array)
    except Exception as exc:  # pydicom raises many types for broken files
        raise DatasetFormatError(
            f"{prefix}DICOM pixel data cannot be decoded ({type(exc).__name__}: {exc}); re-download the file"
        ) from exc
    if arr.ndim == 4 or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        arr = arr[0]  # a decoder that ignored ``index``
    if arr.dtype.kind == "f" and not np.isfinite(arr).any():
        raise DatasetFormatError(
            f"{prefix}every pixel is NaN or infinite; the file holds no image, remove or re-export it"
        )
    return ds, arr


def _dicom_grey(
    ds, arr: np.ndarray, prefix: str, fallback_pct: tuple[float, float] | None
) -> tuple[np.ndarray, str]:
    """uint8 of a grey frame through the modality and VOI LUTs (min-max when the file has no VOI)."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        values = apply_modality_lut(arr, ds)
        if ds.get("VOILUTSequence"):
            item = ds.VOILUTSequence[0]
            entries, first = int(item.LUTDescriptor[0]) or 2**16, int(item.LUTDescriptor[1])
            ints = np.rint(values).astype(np.int64)  # a VOI LUT is indexed by integer values
            out = apply_voi_lut(ints, ds).astype(np.float64)
            table = apply_voi_lut(np.arange(first, first + entries, dtype=np.int64), ds)
            lo, hi = float(table.min()), float(table.max())
            note = "DICOM VOI LUT Sequence (the file's own)"
        elif ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
            out = apply_voi_lut(values.astype(np.float64), ds)
            probe = apply_voi_lut(np.array([-1e300, 1e300]), ds)  # the window's output range
            lo, hi = float(probe.min()), float(probe.max())
            note = "DICOM window (the file's own WindowCenter/WindowWidth)"
        else:
            out = np.asarray(values, np.float64)
            finite = out[np.isfinite(out)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
            note = "no VOI in the file: min-max window"
            if fallback_pct is not None and finite.size:
                low_pct, high_pct = fallback_pct
                lo, hi = window_bounds(finite, low_pct=low_pct, high_pct=high_pct) or (lo, hi)
                note = f"no VOI in the file: {low_pct:g}-{high_pct:g} percentile window"
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, NotImplementedError) as exc:
        raise DatasetFormatError(
            f"{prefix}the DICOM LUTs cannot be applied ({type(exc).__name__}: {exc}); re-export the file"
        ) from exc
    if hi <= lo:
        return np.zeros(out.shape, np.uint8), note
    out = np.nan_to_num(out, nan=lo, posinf=hi, neginf=lo)
    return np.clip((out - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255).astype(np.uint8), note


def _minmax_uint8(arr: np.ndarray) -> np.ndarray:
    """uint8 passes through; deeper colour is scaled min-max (colour images carry no LUTs)."""
    if arr.dtype == np.uint8:
        return arr
    f = arr.astype(np.float64)
    lo, hi = float(f.min()), float(f.max())
    if hi <= lo:
        return np.zeros(arr.shape, np.uint8)
    return np.clip((f - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------- NIfTI


def nifti_image(data: bytes, *, name: str | None = None):
    """A nibabel NIfTI-1 image from ``data``, its dims checked before a voxel is read."""
    import nibabel as nib

    prefix = f"{name}: " if name else ""
    try:
        img = nib.Nifti1Image.from_bytes(data)
        shape = tuple(int(s) for s in img.shape)
    except Exception as exc:  # nibabel raises many kinds for bad headers
        raise DatasetFormatError(
            f"{prefix}a NIfTI-1 file must have a valid header and data ({type(exc).__name__}: {exc}); "
            "re-export the volume"
        ) from exc
    check_nifti_shape(shape, name=name)
    return img


def check_nifti_shape(shape: tuple[int, ...], *, name: str | None = None) -> None:
    """Refuse a NIfTI whose header declares a degenerate or bomb-sized volume (before decoding)."""
    dims = list(shape) + [1] * (3 - len(shape))
    why = size_problem(dims[0], dims[1], int(np.prod(dims[2:])))
    if why is not None:
        prefix = f"{name}: " if name else ""
        raise DatasetFormatError(prefix + why.replace("image", "volume").replace("pixels", "voxels"))


def canonical_volume(img, *, name: str | None = None) -> np.ndarray:
    """The voxels of a nibabel image reoriented to the closest canonical (RAS+) orientation.

    ``nibabel.as_closest_canonical`` permutes and flips the voxel axes (no resampling) so that
    axis 0 runs towards the patient's Left, axis 1 towards Anterior and axis 2 towards Superior,
    whatever the file's affine: slicing axis 2 then really gives axial slices. 4-D volumes keep their first
    volume; 2-D images get a depth of one.
    """
    import nibabel as nib

    try:
        canon = nib.as_closest_canonical(img)
        vol = np.asanyarray(canon.dataobj)
    except Exception as exc:  # nibabel, gzip and zlib raise many types on broken files
        prefix = f"{name}: " if name else ""
        raise DatasetFormatError(
            f"{prefix}the NIfTI volume cannot be read ({type(exc).__name__}: {exc}); re-download it"
        ) from exc
    vol = np.asarray(vol)
    if vol.ndim == 4:
        vol = vol[..., 0]
    if vol.ndim == 2:
        vol = vol[..., None]
    return vol


def scale_volume(vol: np.ndarray, *, low_pct: float = 0.5, high_pct: float = 99.5) -> np.ndarray:
    """uint8 volume windowed on the percentiles of its brain (non-zero) voxels: robust to scanner scale.

    A whole-volume window (not per slice), so every slice of a patient shares one intensity scale;
    background (0) stays black. Used by the BraTS reader and by prediction on NIfTI volumes.
    """
    v = np.nan_to_num(vol.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    brain = v[v != 0]
    if brain.size == 0:
        return np.zeros(v.shape, np.uint8)
    bounds = window_bounds(brain, low_pct=low_pct, high_pct=high_pct)
    if bounds is None:
        return (v != 0).astype(np.uint8) * 255
    lo, hi = bounds
    out = np.clip((v - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255)
    out[v == 0] = 0  # background stays black
    return out.astype(np.uint8)


def axial_slice(vol: np.ndarray, z: int) -> np.ndarray:
    """Axial slice ``z`` of a canonical (RAS+) volume for display: anterior at the top, the
    patient's left on the image's left (the orientation BraTS slices were always prepared in)."""
    return np.ascontiguousarray(vol[::-1, ::-1, z].T)


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
