"""What every source reader shares: finding files, reading CSVs, walking class folders, naming keys.

Real downloads are extracted by hand, renamed and littered with OS files, so
each source reads them the same forgiving way: files are found by name
case-insensitively wherever they landed, OS litter is skipped (the generic
check reports it), CSV headers are matched after normalising, and a file that
cannot be read becomes a :class:`Problem` naming it instead of an exception.
Written once here so that the six sources under ``sources/`` agree.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Container, Iterator
from pathlib import Path
from typing import Any

from medzoo.datasets.base import Problem
from medzoo.datasets.imaging import has_image_suffix, is_stray, verify_image_bytes
from medzoo.errors import ConfigError, DatasetFormatError


def iter_files(raw: Path, *, suffixes: tuple[str, ...] | None = None) -> Iterator[tuple[Path, str]]:
    """(path, path relative to ``raw``) of every file below ``raw`` in path order, OS litter skipped.

    ``suffixes`` (lower case, with the dot) keeps only files with those extensions,
    compared case-insensitively.
    """
    for path in sorted(raw.rglob("*")):
        if not path.is_file() or is_stray(path):  # litter is reported by the generic check
            continue
        if suffixes is not None and path.suffix.lower() not in suffixes:
            continue
        yield path, path.relative_to(raw).as_posix()


def find_named(raw: Path, name: str) -> list[Path]:
    """Every file below ``raw`` called ``name`` (lower case; matched case-insensitively), in path order."""
    return [path for path, _ in iter_files(raw) if path.name.lower() == name]


def walk_folders(raw: Path) -> Iterator[tuple[Path, Path, list[str], list[str]]]:
    """(folder, folder relative to ``raw``, its files, its subfolders) for every folder below ``raw``.

    Folders and files come in name order, OS litter and ``__MACOSX`` are skipped;
    a caller prunes a subtree by clearing the subfolder list it was given.
    """
    for dirpath, dirnames, filenames in os.walk(raw):
        dirnames.sort()
        folder = Path(dirpath)
        rel = folder.relative_to(raw)
        if "__MACOSX" in rel.parts:
            dirnames[:] = []
            continue
        yield folder, rel, [f for f in sorted(filenames) if not is_stray(f)], dirnames


def letters(name: str, *, drop: str = "") -> str:
    """A folder name reduced to lower-case letters (``drop`` removed first): '[Malignant] Pre-B' -> 'malignantpreb'."""
    low = name.lower()
    return re.sub(r"[^a-z]", "", low.replace(drop, "") if drop else low)


def safe_key(text: str) -> str:
    """``text`` as a file-name-safe stem: runs of anything but letters, digits, ``_.-`` become ``-``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)


def read_csv(
    path: Path, *, normalise: Callable[[str], str] = str.lower, where: str | None = None
) -> tuple[list[str], list[dict[str, str]]]:
    """Header (normalised) and rows (dicts of stripped values) of a CSV; blank rows skipped.

    The csv module with ``newline=""`` handles CRLF ends, quoted fields (all of
    them quoted, too) and embedded newlines. Bytes that are not UTF-8 raise one
    :class:`DatasetFormatError` naming the file and the row.
    """
    name = where or str(path)
    lines = read_text_lines(path, where=name)
    try:
        reader = csv.reader(lines)
        header = [normalise(h.strip()) for h in next(reader, [])]
        rows = [
            {h: v.strip() for h, v in zip(header, values, strict=False)}
            for values in reader
            if any(v.strip() for v in values)
        ]
    except csv.Error as exc:
        raise DatasetFormatError(f"{name}: not a readable CSV ({exc}); re-download it") from exc
    return header, rows


def read_text_lines(path: Path, *, where: str | None = None) -> list[str]:
    """Lines of a UTF-8 text file (BOM dropped, line ends kept for the csv module).

    A file that is not UTF-8 raises one :class:`DatasetFormatError` naming the
    file and the 1-based line of the first bad byte.
    """
    name = where or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetFormatError(f"{name}: cannot be read ({exc.strerror}); check the path") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DatasetFormatError(
            f"{name}: row {line - 1 if line > 1 else 'header'} (line {line}) is not valid UTF-8 "
            f"(byte {data[exc.start : exc.start + 1]!r} at offset {exc.start})",
            fix=f"re-save {Path(name).name} as UTF-8 or re-download it",
        ) from exc
    return text.splitlines(keepends=True)


def image_file(
    folder: Path, rel: Path, name: str, suffixes: tuple[str, ...], problems: list[Problem]
) -> bytes | None:
    """The bytes of image ``name`` in a class folder, or None after recording why it is not usable."""
    src = (rel / name).as_posix()
    if not has_image_suffix(name, suffixes):
        problems.append(Problem(src, "not an image file; ignored"))
        return None
    data = (folder / name).read_bytes()
    why = verify_image_bytes(data)
    if why is not None:
        problems.append(Problem(src, why))
        return None
    return data


def files_named_like_folders(
    rel: Path, files: list[str], folders: Container[str], normalise: Callable[[str], str]
) -> list[Problem]:
    """A problem for each file (no extension) named like a class folder: that class's images are missing.

    A class folder replaced by a file (a failed extraction, a stray copy) would
    otherwise silently leave a class, or a binary set's only other class, empty.
    """
    return [
        Problem(
            (rel / f).as_posix(),
            f"{Path(f).name!r} names a class folder but is a file; that class's images are missing: "
            "re-extract the download so that it is a folder of images",
        )
        for f in files
        if not Path(f).suffix and normalise(Path(f).name) in folders
    ]


def check_window_params(p: dict[str, Any]) -> None:
    """The intensity window and output size every windowing reader takes (image_size, window_*_pct)."""
    if int(p["image_size"]) < 8:
        raise ConfigError(f"image_size >= 8 must hold, got image_size={p['image_size']}")
    if not 0.0 <= float(p["window_low_pct"]) < float(p["window_high_pct"]) <= 100.0:
        raise ConfigError(
            "0 <= window_low_pct < window_high_pct <= 100 must hold, got "
            f"window_low_pct={p['window_low_pct']}, window_high_pct={p['window_high_pct']}"
        )


#: the ROI-crop parameters of figshare-brain's preprocessing, shared by kaggle-brain-mri
ROI_CROP_KEYS = ("threshold", "blur", "erode", "dilate", "pad")


def roi_crop_args(params: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`medzoo.datasets.preprocess.roi_crop` taken from ``params``."""
    return {k: params[k] for k in ROI_CROP_KEYS}
