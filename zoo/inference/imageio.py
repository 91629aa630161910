"""Reading one image for prediction (PNG, JPEG, DICOM, a NIfTI slice) and the entry's own preprocessing.

Uploads are untrusted: the format is decided from the bytes (magic numbers),
not the file name; sizes are bounded before decoding; anything unreadable is an
InputImageError naming the file and what was found. DICOM and NIfTI go through
the very functions dataset preparation uses (``medzoo.datasets.imaging``:
``decode_dicom``; ``canonical_volume`` + ``axial_slice``), so a medical image
reaches the model at prediction decoded and oriented as it was in training.
"""

from __future__ import annotations

import io
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medzoo.errors import InputImageError

MAX_BYTES = 512 * 1024 * 1024  # decompressed NIfTI / raw file limit
MAX_PIXELS = 64 * 1024 * 1024  # per 2-D image

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"


@dataclass(frozen=True)
class ImageData:
    """A decoded 2-D image: ``pixels`` uint8 (H, W) grey or (H, W, 3) RGB, plus where it came from."""

    pixels: np.ndarray
    format: str  # "png" | "jpeg" | "dicom" | "nifti" | "array"
    source: str
    modality: str | None = None  # DICOM Modality (MR, MG, CR, DX, CT, ...) when the file says so
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_grey(self) -> bool:
        """True for (H, W) images and for RGB images whose channels are (nearly) equal."""
        if self.pixels.ndim == 2:
            return True
        p = self.pixels.astype(np.int16)
        return bool(np.abs(p[..., 0] - p[..., 1]).mean() < 2 and np.abs(p[..., 1] - p[..., 2]).mean() < 2)


def sniff(data: bytes) -> str | None:
    """The format of ``data`` from its magic bytes, or None."""
    if data.startswith(_PNG):
        return "png"
    if data.startswith(_JPEG):
        return "jpeg"
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicom"
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    if len(data) >= 348 and data[344:348] in (b"n+1\x00", b"ni1\x00"):
        return "nifti"
    return None


def read_image(
    data: bytes | str | Path | np.ndarray, *, filename: str | None = None, slice_index: int | None = None
) -> ImageData:
    """Decode ``data`` (bytes, a path, or an array) into an :class:`ImageData`.

    NIfTI volumes give one axial slice: ``slice_index`` if given, else the slice
    with the most signal (the middle of the anatomy for a brain volume).
    """
    if isinstance(data, np.ndarray):
        return _from_array(data, filename or "<array>")
    if isinstance(data, (str, Path)):
        path = Path(data)
        source = filename or str(path)
        try:
            st = path.stat()
        except OSError as exc:
            raise InputImageError(f"cannot read image {path}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(st.st_mode):
            raise InputImageError(
                f"{path} is not a file (a directory or device); expected a PNG, JPEG, DICOM or NIfTI image",
                fix="give the image files themselves, e.g. DIR/*.png",
            )
        if st.st_size > MAX_BYTES:
            raise InputImageError(
                f"{path}: files up to {MAX_BYTES >> 20} MiB are accepted, got {st.st_size >> 20} MiB"
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputImageError(f"cannot read image {path}: {exc.strerror or exc}") from None
    else:
        source = filename or "<upload>"
        if len(data) > MAX_BYTES:
            raise InputImageError(
                f"{source}: uploads up to {MAX_BYTES >> 20} MiB are accepted, got {len(data) >> 20} MiB"
            )
    if not data:
        raise InputImageError(f"{source} is empty (0 bytes); expected a PNG, JPEG, DICOM or NIfTI image")
    kind = sniff(data)
    if kind == "gzip":
        data = _gunzip(data, source)
        kind = "nifti" if sniff(data) == "nifti" else None
        if kind is None:
            raise InputImageError(
                f"{source}: a gzip file must hold a NIfTI-1 volume (.nii.gz); it holds something else"
            )
    if kind is None and (source.lower().endswith(".dcm") or source.lower().endswith(".dicom")):
        kind = "dicom"  # DICOM without the 128-byte preamble: let pydicom try with force=True
    if kind in ("png", "jpeg"):
        return _read_pil(data, source, kind)
    if kind == "dicom":
        return _read_dicom(data, source)
    if kind == "nifti":
        return _read_nifti(data, source, slice_index)
    head = data[:8]
    raise InputImageError(
        f"{source}: not a PNG, JPEG, DICOM or NIfTI image (first bytes {head!r}); "
        "export the image as PNG/JPEG/DICOM or pass a .nii/.nii.gz volume"
    )


def _gunzip(data: bytes, source: str) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, MAX_BYTES + 1)
    except zlib.error as exc:
        raise InputImageError(f"{source}: the gzip stream is corrupt ({exc})") from None
    if len(out) > MAX_BYTES:
        raise InputImageError(f"{source}: decompresses to more than {MAX_BYTES >> 20} MiB; refusing it")
    return out


def _check_size(arr: np.ndarray, source: str) -> None:
    if arr.ndim < 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputImageError(
            f"{source}: an image must be 2-D with at least 1x1 pixels, got shape {arr.shape}"
        )
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise InputImageError(f"{source}: images up to {MAX_PIXELS} pixels are accepted, got {arr.shape[:2]}")


def to_uint8(arr: np.ndarray, *, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Window ``arr`` to uint8: [low, high] if given, else the 0.5-99.5 percentiles of the image."""
    if arr.dtype == np.uint8 and low is None:
        return arr
    a = arr.astype(np.float32)
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return np.zeros(a.shape, np.uint8)
    lo = float(np.percentile(finite, 0.5)) if low is None else low
    hi = float(np.percentile(finite, 99.5)) if high is None else high
    if hi <= lo:
        lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        return np.zeros(a.shape, np.uint8)
    a = np.nan_to_num(a, nan=lo)
    return np.clip((a - lo) / (hi - lo) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _from_array(arr: np.ndarray, source: str, fmt: str = "array", **kw: Any) -> ImageData:
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise InputImageError(
            f"{source}: an image array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {arr.shape}"
        )
    _check_size(arr, source)
    if arr.dtype != np.uint8:
        arr = to_uint8(arr)
    return ImageData(np.ascontiguousarray(arr), fmt, source, **kw)


def _read_pil(data: bytes, source: str, kind: str) -> ImageData:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise InputImageError(f"{source}: images up to {MAX_PIXELS} pixels are accepted, got {w}x{h}")
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                arr = to_uint8(np.asarray(im))
            elif mode in ("L", "1") or mode == "LA":
                arr = np.asarray(im.convert("L"))
            else:
                arr = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputImageError(
            f"{source}: the {kind.upper()} data cannot be decoded ({exc}); the file is truncated or corrupt"
        ) from None
    return _from_array(arr, source, kind)


def _read_dicom(data: bytes, source: str) -> ImageData:
    """The datasets' own DICOM decode (header checks, modality + VOI LUTs, photometric handling), so a
    DICOM reaches the model exactly as the prepared training images were made."""
    from medzoo.datasets.imaging import declared_size, decode_dicom
    from medzoo.errors import DatasetFormatError

    size = declared_size(data)  # prediction's own per-image bound, also before a pixel is decoded
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise InputImageError(
            f"{source}: images up to {MAX_PIXELS} pixels are accepted, the header declares {size[0]}x{size[1]}"
        )
    try:
        dicom = decode_dicom(data, name=source)
    except DatasetFormatError as exc:
        raise InputImageError(exc.message, fix=exc.fix) from None
    return _from_array(dicom.pixels, source, "dicom", modality=dicom.modality, notes=dicom.notes)


def _read_nifti(data: bytes, source: str, slice_index: int | None) -> ImageData:
    """One axial slice of the volume, reoriented to canonical (RAS+) first as the BraTS reader does."""
    from medzoo.datasets.imaging import axial_slice, canonical_volume, nifti_image, scale_volume
    from medzoo.errors import DatasetFormatError

    try:
        vol = canonical_volume(nifti_image(data, name=source), name=source)
    except DatasetFormatError as exc:
        raise InputImageError(exc.message, fix=exc.fix) from None
    if vol.ndim != 3:
        raise InputImageError(f"{source}: a NIfTI volume must be 2-D or 3-D, got shape {vol.shape}")
    depth = vol.shape[2]
    if slice_index is None:
        signal = np.abs(np.asarray(vol, dtype=np.float32)).reshape(-1, depth).sum(axis=0)
        slice_index = int(np.argmax(signal))
        note = f"NIfTI: axial slice {slice_index} of {depth} (the one with the most signal)"
    else:
        if not 0 <= slice_index < depth:
            raise InputImageError(f"{source}: 0 <= slice < {depth} must hold, got slice={slice_index}")
        note = f"NIfTI: axial slice {slice_index} of {depth}"
    # the whole volume is windowed on its brain voxels, exactly as BraTS preparation does, so a slice
    # reaches the model with the intensities it was trained on
    sl = axial_slice(scale_volume(np.asarray(vol, dtype=np.float32)), slice_index)
    return _from_array(sl, source, "nifti", modality="MR", notes=(note,))


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (H, W) or (H, W, 3) RGB image."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, format="PNG")
    return buf.getvalue()


@dataclass(frozen=True)
class Preprocess:
    """The entry's preprocessing: uint8 (H, W) / (H, W, 3) -> float tensor (3, H', W'), normalised.

    Built from the entry's ``pretrained_cfg`` (input_size, mean, std), so the
    weights and the transform that fits them travel together; resizing and
    normalisation are those of ``medzoo.datasets`` loader (the dataset-level
    preprocessing such as cropping happened when the data were prepared, and is
    recorded in config.json's ``medzoo.preprocessing``).
    """

    input_size: tuple[int, int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"

    @classmethod
    def from_config(cls, pretrained_cfg: dict[str, Any]) -> Preprocess:
        size = tuple(int(v) for v in pretrained_cfg["input_size"])
        return cls(
            input_size=size,  # type: ignore[arg-type]
            mean=tuple(float(v) for v in pretrained_cfg.get("mean", (0.485, 0.456, 0.406))),  # type: ignore[arg-type]
            std=tuple(float(v) for v in pretrained_cfg.get("std", (0.229, 0.224, 0.225))),  # type: ignore[arg-type]
            interpolation=str(pretrained_cfg.get("interpolation", "bilinear")),
        )

    def display(self, image: np.ndarray) -> np.ndarray:
        """The image as the model sees it, before normalisation: uint8 RGB (H', W', 3)."""
        img = np.asarray(image)
        if img.ndim == 3 and img.shape[2] == 4:
            img = img[..., :3]
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[..., 0]
        if img.dtype != np.uint8:
            raise InputImageError(f"preprocess takes a uint8 image, got dtype {img.dtype}")
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] != 3:
            raise InputImageError(f"preprocess takes an (H, W) or (H, W, 3) image, got shape {img.shape}")
        _, h, w = self.input_size
        if h == w:  # the loader's own resize (area down, cubic up), so prediction sees what training saw
            from medzoo.datasets.imaging import resize_square

            img = resize_square(img, h)
        elif img.shape[:2] != (h, w):
            import cv2

            img = cv2.resize(
                img, (w, h), interpolation=cv2.INTER_AREA if h < img.shape[0] else cv2.INTER_CUBIC
            )
        return np.ascontiguousarray(img)

    def __call__(self, image: np.ndarray):
        import torch

        img = self.display(image).astype(np.float32) / 255.0
        img = (img - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
