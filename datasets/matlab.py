"""MATLAB v7.3 .mat files: HDF5 behind a 512-byte MATLAB user block.

scipy.io.loadmat refuses v7.3, so these go through h5py, which finds the HDF5
superblock after the user block by itself. MATLAB stores arrays column-major,
so h5py returns them transposed; char arrays are uint16 code points.
"""

from __future__ import annotations

import datetime as _dt
import functools
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

MAT73_TEXT = "MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: {date} HDF5 schema 1.00 ."


def mat73_header(created: _dt.datetime | None = None) -> bytes:
    """The 512-byte user block MATLAB writes in front of a v7.3 file."""
    created = created or _dt.datetime(2015, 4, 2, 10, 32, 11)
    text = MAT73_TEXT.format(date=created.strftime("%a %b %d %H:%M:%S %Y")).encode("ascii")
    head = text.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    return head.ljust(512, b"\x00")


def write_mat73(path: Path, group: str, fields: dict[str, tuple[np.ndarray, str]]) -> None:
    """Write ``/group/<name>`` datasets the way MATLAB does: transposed, with MATLAB_class attributes.

    ``fields`` maps name -> (array as MATLAB sees it, MATLAB class, e.g. "double", "int16",
    "char", "logical"). The file starts with the MATLAB user block.
    """
    import h5py

    with h5py.File(path, "w", userblock_size=512, libver="earliest") as f:
        g = f.create_group(group)
        g.attrs["MATLAB_class"] = np.bytes_("struct")
        for name, (array, mclass) in fields.items():
            a = np.asarray(array)
            a = a.reshape(1, 1) if a.ndim == 0 else a
            opts = {"compression": "gzip", "compression_opts": 3, "chunks": True} if a.size > 4096 else {}
            d = g.create_dataset(name, data=a.T, **opts)
            d.attrs["MATLAB_class"] = np.bytes_(mclass)
            if mclass == "logical":
                d.attrs["MATLAB_int_decode"] = np.int32(1)
            if mclass == "char":
                d.attrs["MATLAB_int_decode"] = np.int32(2)
    with open(path, "r+b") as fh:
        fh.write(mat73_header())


def write_mat73_dataset(path: Path, name: str, array: np.ndarray, mclass: str = "double") -> None:
    """A v7.3 file holding one top-level variable (e.g. figshare's ``cvind``)."""
    import h5py

    with h5py.File(path, "w", userblock_size=512, libver="earliest") as f:
        d = f.create_dataset(name, data=np.asarray(array).T)
        d.attrs["MATLAB_class"] = np.bytes_(mclass)
    with open(path, "r+b") as fh:
        fh.write(mat73_header())


def decode_char(array: Any) -> str:
    """A MATLAB char array (uint16 codes, any shape) or an HDF5 string as a Python str."""
    a = np.asarray(array)
    if a.dtype.kind in "SO":
        return b"".join(x if isinstance(x, bytes) else str(x).encode() for x in a.ravel()).decode().strip()
    if a.dtype.kind == "U":
        return "".join(a.ravel()).strip()
    if a.dtype.kind not in "ui":
        raise ValueError(f"a MATLAB char array must hold integer codes, got dtype {a.dtype}")
    return "".join(chr(int(c)) for c in a.ravel() if int(c) != 0).strip()


def is_mat_v5(data: bytes) -> bool:
    return data[:10] == b"MATLAB 5.0" and b"HDF5" not in data[:128]


# --- sources: a file on disk, or a member of a zip (possibly inside another zip) ----------------

SEP = "!"


def read_source(raw: Path, source: str) -> bytes:
    """Bytes of ``source``: "a/b.mat", or "x.zip!n.mat", or "outer.zip!inner.zip!n.mat"."""
    parts = source.split(SEP)
    if len(parts) == 1:
        return (raw / parts[0]).read_bytes()
    outer = raw / parts[0]
    zf = _open_zip(str(outer), outer.stat().st_mtime_ns, tuple(parts[1:-1]))
    return zf.read(parts[-1])


@functools.lru_cache(maxsize=4)
def _open_zip(path: str, mtime_ns: int, inner: tuple[str, ...]) -> zipfile.ZipFile:
    """An open (possibly nested) zip, cached: slices are read in order, so one inner zip serves many."""
    zf = zipfile.ZipFile(path)
    for name in inner:
        zf = zipfile.ZipFile(io.BytesIO(zf.read(name)))
    return zf


def iter_zip_members(
    zf: zipfile.ZipFile, prefix: str, *, depth: int = 1
) -> Iterator[tuple[str, zipfile.ZipFile, str]]:
    """Yield (source, zip, member) for every file member, descending ``depth`` levels into nested zips."""
    for info in zf.infolist():
        if info.is_dir():
            continue
        name = info.filename
        if name.lower().endswith(".zip") and depth > 0:
            try:
                inner = zipfile.ZipFile(io.BytesIO(zf.read(name)))
            except (zipfile.BadZipFile, OSError):
                yield f"{prefix}{SEP}{name}", zf, name
                continue
            yield from iter_zip_members(inner, f"{prefix}{SEP}{name}", depth=depth - 1)
        else:
            yield f"{prefix}{SEP}{name}", zf, name


@contextmanager
def open_h5(data: bytes) -> Iterator[Any]:
    import h5py

    with h5py.File(io.BytesIO(data), "r") as f:
        yield f
