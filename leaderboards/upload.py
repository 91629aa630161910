"""Try-a-model uploads: the body read under a size limit and a deadline, and image sizes read from headers.

Why here and not in the decoder: a 370-byte PNG can declare 30000 x 30000
pixels and an 8 MB RLE DICOM 16000 x 16000; decoding either costs gigabytes
before any check inside the decoder runs. The server therefore reads the
declared dimensions from the file's header (PNG IHDR, JPEG SOF, DICOM
Rows/Columns/NumberOfFrames without its pixel data) and refuses large images
before anything decodes them.
"""

from __future__ import annotations

import io
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http import HTTPStatus

#: the most pixels one uploaded image (all frames together) may declare: 8192 x 8192
MAX_PIXELS = 64 * 1024 * 1024


class UploadError(Exception):
    """An upload refused with an HTTP status and one sentence saying what to do."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = message


@dataclass(frozen=True)
class Declared:
    """What an image file says about its size, read from its header only."""

    kind: str  # "png" | "jpeg" | "dicom"
    width: int
    height: int
    frames: int = 1

    @property
    def pixels(self) -> int:
        return self.width * self.height * self.frames


async def read_body(
    chunks: AsyncIterator[bytes], *, declared: int | None, limit: int, timeout_s: float
) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` (the rest is never read) and with
    408 when it has not fully arrived ``timeout_s`` after the headers (a stalled or very slow client)."""
    import anyio

    if declared is not None and declared > limit:
        raise UploadError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large(declared, limit))
    parts: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(timeout_s):
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise UploadError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large(size, limit, more=True))
                parts.append(chunk)
    except TimeoutError:
        raise UploadError(
            HTTPStatus.REQUEST_TIMEOUT,
            f"The upload did not arrive within {timeout_s:g} s ({size} bytes received); "
            "check the connection and send it again.",
        ) from None
    return b"".join(parts)


def _too_large(size: int, limit: int, *, more: bool = False) -> str:
    mb = max(1, limit // 2**20)
    return (
        f"Uploads must be at most {mb} MB; this one is {'more than ' if more else ''}{size / 2**20:.1f} MB. "
        "Export a single image (PNG, JPEG or one DICOM slice) instead."
    )


def check_dimensions(data: bytes, kind: str, *, filename: str, max_pixels: int = MAX_PIXELS) -> Declared:
    """The image's declared size from its header; 413 when it exceeds ``max_pixels``, 400 when the header
    cannot be read. Nothing is decoded."""
    try:
        declared = {"png": _png, "jpeg": _jpeg, "dicom": _dicom}[kind](data)
    except (ValueError, IndexError, struct.error) as exc:
        raise UploadError(
            HTTPStatus.BAD_REQUEST, f"{filename!r}: its {kind.upper()} header cannot be read ({exc})."
        ) from None
    if declared.width < 1 or declared.height < 1 or declared.frames < 1:
        raise UploadError(
            HTTPStatus.BAD_REQUEST,
            f"{filename!r} declares {declared.width} x {declared.height} pixels; an image needs at least 1 x 1.",
        )
    if declared.pixels > max_pixels:
        frames = f" x {declared.frames} frames" if declared.frames > 1 else ""
        raise UploadError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"{filename!r} declares {declared.width} x {declared.height} pixels{frames}; at most "
            f"{max_pixels} pixels (8192 x 8192) are decoded. Downscale it or export one slice.",
        )
    return declared


def _png(data: bytes) -> Declared:
    if data[12:16] != b"IHDR":
        raise ValueError("the first chunk is not IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return Declared("png", width, height)


#: JPEG start-of-frame markers (every SOFn except DHT, JPG and DAC)
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(data: bytes) -> Declared:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError(f"no marker at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return Declared("jpeg", width, height)
        i += 2 + length
    raise ValueError("no start-of-frame marker before the end of the file")


def _dicom(data: bytes) -> Declared:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    except (InvalidDicomError, OSError, EOFError, KeyError, TypeError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    rows, cols = ds.get("Rows"), ds.get("Columns")
    if rows is None or cols is None:
        raise ValueError("Rows and Columns are missing")
    frames = ds.get("NumberOfFrames", 1) or 1
    return Declared("dicom", int(cols), int(rows), int(frames))
