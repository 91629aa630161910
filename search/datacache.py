"""Prepared sets on the nodes: uploaded once to storage, materialised once per node, verified.

Why: the nodes of a cluster do not share the driver's disk, and a trial must never download its
data per trial or per epoch. So the driver publishes a local prepared set once to
``<storage>/datasets/<id>-<content hash>/`` (skipped when that folder is complete already), and
each node copies it once into a content-addressed cache ``<cache root>/datasets/<hash>/``. Several
trials of one node asking at once wait on one file lock; the copy goes to a temporary sibling, its
files are checked against the manifest's sha256 column, and only then is it renamed into place.

The content hash is the sha256 of ``manifest.parquet`` and ``dataset.json``: the manifest holds
the sha256 of every image, so it names the content of the whole set for the price of two files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from medzoo.errors import DatasetError, StorageError
from medzoo.formats.prepared import DatasetInfo
from medzoo.storage import Location, location

#: written last into an uploaded set: its presence means the upload finished (object stores have no rename)
UPLOAD_MARKER = ".medzoo-upload.json"
#: written into a node's cached copy before it is renamed into place: what was downloaded, once
CACHE_RECORD = ".medzoo-cache.json"
_META = ("manifest.parquet", "dataset.json")
_MAX_META_BYTES = 512 << 20


@dataclass(frozen=True, kw_only=True)
class DataRef:
    """A prepared set as every trial reaches it: where it lives and the hash that names its content."""

    uri: str  # a storage URI (s3://, gs://) or a local folder (read in place: one node or a shared mount)
    digest: str  # sha256 hex over manifest.parquet and dataset.json
    dataset: str  # the dataset id from dataset.json


@dataclass(frozen=True, kw_only=True)
class Materialized:
    """A node's local copy of a prepared set and what it cost to make it (0 bytes when cached)."""

    path: Path
    downloaded_bytes: int
    files: int


def content_digest(prepared: Location) -> tuple[str, str]:
    """``(sha256 hex, dataset id)`` of a prepared set, from its manifest and dataset.json alone."""
    h = hashlib.sha256()
    meta: dict[str, bytes] = {}
    for name in _META:
        f = prepared / name
        if not f.is_file():
            raise DatasetError(
                f"{prepared.uri} must be a prepared dataset with {name}; found none",
                fix="medzoo datasets prepare ID RAW OUT, then pass OUT",
            )
        meta[name] = f.read_bytes(max_bytes=_MAX_META_BYTES)
        h.update(name.encode() + b"\0" + len(meta[name]).to_bytes(8, "big") + meta[name])
    dataset = DatasetInfo.read(prepared / "dataset.json").id
    if not dataset or "/" in dataset or dataset.startswith("."):
        raise DatasetError(f"{prepared.uri}/dataset.json: id {dataset!r} is not a dataset id")
    return h.hexdigest(), dataset


def publish(*, prepared: str | os.PathLike[str] | Location, storage: Location | None) -> DataRef:
    """The :class:`DataRef` of ``prepared``; a local set is uploaded once to ``<storage>/datasets/``.

    Without ``storage`` (the embedded default) or when ``prepared`` is already a storage URI, the set
    is used where it is. The upload is skipped when a complete copy with the same hash is there.
    """
    source = location(prepared)
    digest, dataset = content_digest(source)
    if storage is None or not source.is_local:
        return DataRef(uri=source.uri, digest=digest, dataset=dataset)
    target = storage / "datasets" / f"{dataset}-{digest[:16]}"
    if target.uri == source.uri or (target / UPLOAD_MARKER).is_file():
        return DataRef(uri=target.uri, digest=digest, dataset=dataset)
    if target.exists():  # an upload that died half-way: start it again
        target.delete()
    target.upload_from(source.local_path())
    record = {"digest": digest, "dataset": dataset, "source": source.uri}
    (target / UPLOAD_MARKER).write_text(json.dumps(record, indent=2) + "\n")
    return DataRef(uri=target.uri, digest=digest, dataset=dataset)


def materialize(ref: DataRef, *, cache_root: Path, lock_timeout_s: float = 1800) -> Materialized:
    """A local folder holding ``ref``'s files on this node: in place, cached, or downloaded once now."""
    from filelock import FileLock, Timeout

    source = location(ref.uri)
    if source.is_local:  # one node, or a mount every node shares: read in place
        if not (source / "dataset.json").is_file():
            raise DatasetError(
                f"prepared set {ref.uri} is not visible on this node ({os.uname().nodename})",
                fix="pass --storage s3://bucket/prefix or a path every node mounts",
            )
        _check_digest(source, ref)
        return Materialized(path=source.local_path(), downloaded_bytes=0, files=0)
    root = Path(cache_root) / "datasets"
    final = root / ref.digest
    root.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(root / f".{ref.digest}.lock"), timeout=lock_timeout_s):
            if (final / CACHE_RECORD).is_file():
                return Materialized(path=final, downloaded_bytes=0, files=0)
            return _download(source, ref, final)
    except Timeout:
        raise StorageError(
            f"waited {lock_timeout_s:g} s for another process on this node to download {ref.uri}",
            fix=f"if no medzoo process is running on this node, remove {root / ('.' + ref.digest + '.lock')}",
        ) from None


def _download(source: Location, ref: DataRef, final: Path) -> Materialized:
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        total = files = 0
        for rel, src in source.walk():
            if rel == UPLOAD_MARKER:
                continue
            data = src.read_bytes()
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            total, files = total + len(data), files + 1
        _check_digest(location(tmp), ref)
        _verify_files(tmp, where=ref.uri)
        record = {"uri": ref.uri, "digest": ref.digest, "bytes": total, "files": files}
        record["seconds"] = round(time.monotonic() - started, 3)
        (tmp / CACHE_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        if final.exists():  # a copy without its record: left by a crash before this lock existed
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Materialized(path=final, downloaded_bytes=total, files=files)


def _check_digest(folder: Location, ref: DataRef) -> None:
    digest, _ = content_digest(folder)
    if digest != ref.digest:
        raise DatasetError(
            f"prepared set {ref.uri} changed since the sweep started (content hash {digest[:16]}, "
            f"expected {ref.digest[:16]})",
            fix="never edit a prepared set in place: prepare a new folder and start a new sweep",
        )


def _verify_files(folder: Path, *, where: str) -> None:
    """Every image the manifest names is there, inside the set, with the manifest's sha256."""
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO((folder / "manifest.parquet").read_bytes()))
    columns = set(table.column_names)
    if not {"path", "sha256"} <= columns:
        raise DatasetError(f"{where}/manifest.parquet lacks the path or sha256 column; re-run prepare")
    rows = table.select(["path", "sha256", *(["mask_path"] if "mask_path" in columns else [])]).to_pylist()
    for row in rows:
        rel = _inside(row["path"], where=where)
        data = (folder / rel).read_bytes() if (folder / rel).is_file() else None
        if data is None or hashlib.sha256(data).hexdigest() != row["sha256"]:
            state = "is missing" if data is None else "does not match its sha256 in the manifest"
            raise DatasetError(
                f"{where}/{rel} {state} after download",
                fix="re-upload the prepared set, then resume the sweep",
            )
        mask = row.get("mask_path")
        if mask and not (folder / _inside(mask, where=where)).is_file():
            raise DatasetError(f"{where}/{mask} (a mask the manifest names) is missing after download")


def _inside(rel: object, *, where: str) -> str:
    parts = PurePosixPath(str(rel)).parts
    if not isinstance(rel, str) or not parts or rel.startswith("/") or ".." in parts or "\\" in rel:
        raise DatasetError(f"{where}/manifest.parquet names {rel!r}, which is not a path inside the set")
    return rel
