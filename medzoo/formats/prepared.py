"""The prepared dataset's typed files: ``dataset.json`` and the schema of ``manifest.parquet``.

Why typed: a prepared set is read by the loader, every trial of a sweep, publish
and the data cache, possibly on other machines and possibly copied from someone
else. Each read goes through here once, so a corrupt, truncated, hostile or
newer-than-medzoo file is one error naming the file and the field or column,
never a ``KeyError`` deep inside a trial. ``medzoo.datasets.prepare`` writes
both; nothing else parses them.
"""

from __future__ import annotations

import dataclasses
import io
import os
import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from medzoo.errors import FormatError, StorageError
from medzoo.formats._base import Record
from medzoo.storage import Location, location

if TYPE_CHECKING:
    import pandas as pd

Task = Literal["binary", "multiclass", "multilabel"]
SplitProtocol = Literal["patient", "image", "official"]

MANIFEST_FILENAME = "manifest.parquet"
#: exactly the DESIGN.md manifest columns, in order; a source may add declared extras (brats: sequence)
MANIFEST_COLUMNS = ("path", "label", "labels", "patient_id", "split", "fold", "source", "mask_path", "sha256")
SPLITS = ("train", "val", "test")
#: manifests larger than this are refused before parsing (a hostile file could be huge)
MAX_MANIFEST_BYTES = 2 << 30


@dataclass(frozen=True, kw_only=True)
class Preprocessing:
    steps: tuple[str, ...]  # what was done, in order, in words (dataset.json and the card)
    params: dict[str, Any]  # the parameters of those steps, verbatim


@dataclass(frozen=True, kw_only=True)
class LeakageAudit:
    """The result of ``medzoo.datasets.audit.audit``: no patient or identical image in two splits/folds."""

    passed: bool
    protocol: SplitProtocol
    rows: int
    patients: int
    patients_in_two_splits: int
    patient_check_enforced: bool
    identical_images_in_two_splits: int
    patients_in_two_folds: int
    identical_images_in_two_folds: int
    failures: tuple[str, ...]
    examples: dict[str, tuple[str, ...]]


@dataclass(frozen=True, kw_only=True)
class Skipped:
    source: str  # the raw file (relative to the raw folder)
    problem: str  # why it could not be preprocessed


@dataclass(frozen=True, kw_only=True)
class Dedup:
    """What ``dedup_against`` removed from an evaluation set (kaggle-brain-mri vs figshare-brain)."""

    against: str
    against_path: str
    exact: int
    near: int
    removed: int
    kept: int
    max_hamming: int
    hash: str


@dataclass(frozen=True, kw_only=True)
class DatasetInfo(Record):
    """``dataset.json``: what a prepared set holds and how it was made (docs/contracts.md, Datasets)."""

    FILENAME: ClassVar[str] = "dataset.json"
    FORMAT_VERSION: ClassVar[int] = 1

    id: str
    title: str
    task: Task
    classes: tuple[str, ...]  # label i is classes[i]
    modality: str
    preprocessing: Preprocessing
    split_protocol: SplitProtocol
    seed: int
    folds: int | None
    counts: dict[str, dict[str, int]]  # {split: {class: n, ..., "total": n}}
    leakage_audit: LeakageAudit
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    eval_only: bool
    data_kind: Literal["phantom", "real"]
    phantom: dict[str, Any] | None  # the raw folder's phantom marker, None for real data
    layout: str
    raw: str
    images: int
    patients: int
    image_size: int
    channels: int
    has_masks: bool
    sequences: tuple[str, ...]
    primary_metric: str
    secondary_metrics: tuple[str, ...]
    citation: str
    licence: str
    skipped: tuple[Skipped, ...]
    excluded: dict[str, int]
    raw_problems: tuple[str, ...]
    created: str  # ISO 8601, UTC
    dedup: Dedup | None = None

    def __post_init__(self) -> None:
        if not self.classes or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must be distinct and non-empty, found {list(self.classes)}")
        if self.image_size < 1 or self.channels not in (1, 3):
            raise ValueError(
                f"image_size >= 1 and channels 1 or 3 must hold, found {self.image_size}, {self.channels}"
            )
        if self.folds is not None and self.folds < 1:
            raise ValueError(f"folds must be null or >= 1, found {self.folds}")

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        if data["dedup"] is None:
            del data["dedup"]  # absent until dedup_against ran, as before the record
        return data


def info_location(where: Location | str | os.PathLike[str]) -> Location:
    """``dataset.json`` of a prepared folder (or the file itself)."""
    return DatasetInfo.location_of(where)


def read_info(where: Location | str | os.PathLike[str]) -> DatasetInfo:
    """The validated ``dataset.json`` of a prepared folder; one :class:`FormatError` when it is not."""
    return DatasetInfo.read(where, root=location(where) if _is_folder(where) else None)


def write_info(
    info: DatasetInfo, where: Location | str | os.PathLike[str], *, replace: bool = True
) -> Location:
    """Write ``dataset.json`` atomically into the prepared folder ``where``."""
    return info.write(where, replace=replace)


def read_manifest(where: Location | str | os.PathLike[str]) -> pd.DataFrame:
    """``manifest.parquet`` of a prepared folder, its schema checked; ``labels`` as lists of str.

    Required columns and their types (path, label, labels, patient_id, split, fold,
    source, mask_path, sha256), split values, and that every ``path``/``mask_path``
    stays inside the prepared folder (a hostile manifest must not make the loader
    read ``/etc/passwd``). Violations raise one :class:`FormatError` naming the
    file and the column.
    """
    import pyarrow.parquet as pq

    root = location(where)
    loc = root / MANIFEST_FILENAME
    if not loc.exists():
        raise FormatError(
            f"{loc.uri} is missing; {root.uri} must be a prepared dataset",
            fix="medzoo datasets prepare ID RAW OUT",
        )
    try:
        data = loc.read_bytes(max_bytes=MAX_MANIFEST_BYTES, root=root)
    except StorageError as exc:
        raise FormatError(exc.message, fix=exc.fix) from None
    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... on broken files
        raise FormatError(
            f"{loc.uri} is not a readable parquet file ({type(exc).__name__}: {exc}); it may be truncated",
            fix="re-run medzoo datasets prepare",
        ) from None
    check_manifest_schema(table.schema, where=loc.uri)
    df = table.to_pandas()
    _check_values(df, where=loc.uri)
    df["labels"] = df["labels"].map(lambda v: [str(x) for x in v])
    return df


def check_manifest_schema(schema: Any, *, where: str) -> None:
    """Every required column present with its type (a pyarrow schema)."""
    import pyarrow.types as pat

    want = {
        "path": (_is_string, "a string"),
        "label": (pat.is_integer, "an integer"),
        "labels": (_is_string_list, "a list of strings"),
        "patient_id": (_is_string, "a string"),
        "split": (_is_string, "a string"),
        "fold": (pat.is_integer, "an integer"),
        "source": (_is_string, "a string"),
        "mask_path": (_is_string, "a string"),
        "sha256": (_is_string, "a string"),
    }
    names = set(schema.names)
    missing = [c for c in MANIFEST_COLUMNS if c not in names]
    if missing:
        raise FormatError(
            f"{where}: the required column(s) {missing} are missing (found {schema.names})",
            fix="re-run medzoo datasets prepare",
        )
    for column, (ok, what) in want.items():
        tp = schema.field(column).type
        if not (ok(tp) or pat.is_null(tp)):
            raise FormatError(
                f"{where}: column {column!r} must hold {what}, found type {tp}",
                fix="re-run medzoo datasets prepare",
            )


def _is_string(tp: Any) -> bool:
    import pyarrow.types as pat

    return pat.is_string(tp) or pat.is_large_string(tp) or pat.is_string_view(tp)


def _is_string_list(tp: Any) -> bool:
    import pyarrow.types as pat

    return (pat.is_list(tp) or pat.is_large_list(tp)) and (
        _is_string(tp.value_type) or pat.is_null(tp.value_type)
    )


def _check_values(df: pd.DataFrame, *, where: str) -> None:
    """Split values, non-null ids, and file references that stay inside the prepared folder."""
    bad_split = sorted(set(df["split"].dropna()) - set(SPLITS))
    if bad_split or df["split"].isna().any():
        raise FormatError(
            f"{where}: column 'split' must hold only {list(SPLITS)}, found {bad_split or ['null']}",
            fix="re-run medzoo datasets prepare",
        )
    for column in ("path", "patient_id", "sha256"):
        if df[column].isna().any() or (df[column] == "").any():
            row = int(((df[column] == "") | df[column].isna()).to_numpy().argmax())
            raise FormatError(f"{where}: column {column!r} is empty in row {row}", fix="re-run prepare")
    for column in ("path", "mask_path"):
        for row, rel in enumerate(df[column]):
            if rel and not _inside(rel):
                raise FormatError(
                    f"{where}: column {column!r} row {row} names {rel!r}, which is not a path inside the "
                    "prepared folder; nothing outside it is read",
                    fix="re-run medzoo datasets prepare (a prepared set from someone else may be hostile)",
                )


def _inside(rel: Any) -> bool:
    if not isinstance(rel, str) or "\\" in rel or "\x00" in rel or rel.startswith("/"):
        return False
    norm = posixpath.normpath(rel)
    return norm not in (".", "..") and not norm.startswith("../")


def _is_folder(where: Location | str | os.PathLike[str]) -> bool:
    loc = location(where)
    return loc.name != DatasetInfo.FILENAME and loc.is_dir()


def replace_fields(info: DatasetInfo, **changes: Any) -> DatasetInfo:
    """A copy of ``info`` with ``changes`` (validated again, as if read)."""
    return DatasetInfo.from_dict({**info.to_dict(), **_plain(changes)}, where=DatasetInfo.FILENAME)


def _plain(changes: dict[str, Any]) -> dict[str, Any]:
    return {
        k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) and not isinstance(v, type) else v
        for k, v in changes.items()
    }


__all__ = [
    "MANIFEST_COLUMNS",
    "DatasetInfo",
    "Dedup",
    "LeakageAudit",
    "Preprocessing",
    "Skipped",
    "check_manifest_schema",
    "info_location",
    "read_info",
    "read_manifest",
    "replace_fields",
    "write_info",
]
