"""The zoo on storage: entry names, revisions, listing, verified loading and pulling.

Layout (docs/contracts.md): ``ZOO/<dataset>/<name>/<rN>/`` holds one revision in
Hugging Face repo layout; ``ZOO/<dataset>/<name>/refs.json`` names the revisions
and the latest. Entry ids are ``<dataset>/<name>[@rN]``. ``ZOO`` is a
:class:`medzoo.storage.Location`: a local folder, a shared mount or an
``s3://`` / ``gs://`` URI, through the same code.

Untrusted entries. Names are checked against a strict pattern before any path
is built; a local entry must resolve inside the zoo root; every file is read
through the storage layer, which refuses symbolic links at any depth (naming the
path), so nothing outside an entry is read, copied or loaded. ``config.json`` and
``metrics.json`` are read through their typed records (``medzoo.formats.entry``),
weights are safetensors only and are checked against the sha256 in
``config.json`` before they are used, and the architecture is built only from
medzoo's registered families and timm's own names, with ``pretrained=False``
(no network).

Revisions are never overwritten. A publisher first claims the first free
``rN`` by writing ``<entry>/.rN.claim`` without replacing (and reading its own
token back; a taken number moves it on to ``rN+1``), builds the revision
completely in a local temporary folder, verifies it, and commits it:
- local zoo (or shared mount): the claim is an exclusive create (a hard link),
  so two publishers never get the same ``rN``; the folder appears whole by a
  rename that fails if ``rN`` exists, and ``refs.json`` is updated under a
  per-entry ``filelock``;
- object store: the claim is check-then-write (pyarrow exposes no conditional
  PUT), so two publishers racing within one round trip can both write the same
  claim; only one token survives, and the other finds a foreign token when it
  re-checks before uploading and fails with a clear error, having written
  nothing. Files are uploaded with ``config.json`` last and with ``replace=False``,
  so a revision is complete exactly when its ``config.json`` exists and a
  complete revision is never replaced.
A failed publish releases its claim and commits nothing. Listing takes the union
of ``refs.json`` and the complete revision folders, so a refs update lost to a
concurrent writer never hides a published revision.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from medzoo.errors import (
    EntryNotFoundError,
    IntegrityError,
    MedzooError,
    StorageError,
    UnsafeNameError,
    ZooError,
)
from medzoo.formats.entry import EntryConfig, EntryMetrics, Refs
from medzoo.storage import Location, location

NAME_PATTERN = r"[a-z0-9][a-z0-9_.-]{0,63}"
_NAME_RE = re.compile(NAME_PATTERN)
_REV_RE = re.compile(r"r[1-9][0-9]{0,5}")
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
REFS = "refs.json"
#: weights larger than this are refused before reading (a hostile entry could be huge)
MAX_WEIGHTS_BYTES = 8 << 30

ZooLike = str | os.PathLike[str] | Location


@dataclass(frozen=True)
class EntryRef:
    """A parsed entry id: ``dataset/name`` plus an optional revision (``None`` = latest)."""

    dataset: str
    name: str
    revision: str | None = None

    @property
    def id(self) -> str:
        return f"{self.dataset}/{self.name}"

    def __str__(self) -> str:
        return self.id if self.revision is None else f"{self.id}@{self.revision}"


def _check_part(kind: str, value: str, entry: str) -> None:
    if not _NAME_RE.fullmatch(value) or value in {".", ".."}:
        raise UnsafeNameError(
            f"entry {entry!r}: the {kind} must match {NAME_PATTERN} (lower-case letters, digits, '_', '.', '-', "
            f"starting with a letter or digit), got {value!r}",
            fix="use an id like figshare-brain/efficientnet_b2 or figshare-brain/efficientnet_b2@r1",
        )


def parse_entry(entry: str) -> EntryRef:
    """Parse ``<dataset>/<name>[@rN]``; anything that could escape the zoo root raises UnsafeNameError."""
    if not isinstance(entry, str) or not entry:
        raise UnsafeNameError(
            f"an entry id must be a non-empty string '<dataset>/<name>[@rN]', got {entry!r}"
        )
    if "\\" in entry or "\x00" in entry or entry.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", entry):
        raise UnsafeNameError(
            f"entry {entry!r}: absolute paths, drive letters, '~', backslashes and NUL are not allowed in "
            "entry ids; the form is '<dataset>/<name>[@rN]'"
        )
    base, sep, rev = entry.partition("@")
    parts = base.split("/")
    if len(parts) != 2:
        raise UnsafeNameError(
            f"entry {entry!r}: exactly one '/' must separate dataset and name, found {len(parts) - 1}",
            fix="use an id like figshare-brain/efficientnet_b2",
        )
    _check_part("dataset", parts[0], entry)
    _check_part("name", parts[1], entry)
    if sep:
        if not _REV_RE.fullmatch(rev):
            raise UnsafeNameError(f"entry {entry!r}: a revision must look like r1, r2, ..., got {rev!r}")
        return EntryRef(parts[0], parts[1], rev)
    return EntryRef(parts[0], parts[1], None)


def sanitize_name(text: str) -> str:
    """Turn a family or free-text name into a valid entry name (``EfficientNet-B2`` -> ``efficientnet-b2``)."""
    name = re.sub(r"[^a-z0-9_.-]+", "_", text.strip().lower()).strip("._-")
    name = name[:64].rstrip("._-")
    if not name:
        raise UnsafeNameError(f"cannot make an entry name out of {text!r}; pass name= explicitly")
    return name


def _inside(zoo: Location, loc: Location, entry: str) -> Location:
    """A local ``loc`` must resolve inside the zoo root (a linked entry folder could point anywhere)."""
    if loc.is_local:
        root = Path(zoo.uri).resolve()
        real = Path(loc.uri).resolve()
        if real != root and root not in real.parents:
            raise UnsafeNameError(
                f"entry {entry!r} resolves to {real}, outside the zoo root {root}; refusing it"
            )
        try:
            loc.check_inside(zoo)  # a link at any depth is refused, even one pointing inside the zoo
        except StorageError as exc:
            raise UnsafeNameError(exc.message, fix=exc.fix) from None
    return loc


def entry_home(zoo: ZooLike, ref: EntryRef) -> Location:
    """``ZOO/<dataset>/<name>`` for a parsed id (checked to stay inside the zoo)."""
    root = location(zoo)
    return _inside(root, root / ref.dataset / ref.name, str(ref))


def read_refs(home: Location) -> Refs:
    """The entry's refs.json (empty when there is none yet)."""
    loc = home / REFS
    return Refs.read(loc) if loc.exists() else Refs()


def revisions(home: Location) -> tuple[str, ...]:
    """Every published revision: refs.json's plus each complete ``rN`` folder (one whose config.json exists)."""
    found = set(read_refs(home).revisions)
    if home.is_dir():
        found |= {c.name for c in home.iterdir() if _REV_RE.fullmatch(c.name) and (c / CONFIG).exists()}
    return tuple(sorted(found, key=lambda r: int(r[1:])))


def next_revision(home: Location) -> str:
    """The first unused ``rN`` (refs.json, every folder complete or not, and every claim: nothing is overwritten)."""
    used = set(read_refs(home).revisions)
    if home.is_dir():
        names = [c.name for c in home.iterdir()]
        used |= {n for n in names if _REV_RE.fullmatch(n)}
        used |= {
            n[1:-6]
            for n in names
            if n.startswith(".") and n.endswith(".claim") and _REV_RE.fullmatch(n[1:-6])
        }
    return f"r{max((int(r[1:]) for r in used), default=0) + 1}"


def add_revision(home: Location | str | os.PathLike[str], revision: str) -> None:
    home = location(home)
    home.mkdir()
    read_refs(home).adding(revision).write(home / REFS)


@contextlib.contextmanager
def revision_lock(home: Location) -> Iterator[None]:
    """Serialise revision allocation for one local entry (``filelock``: works on Windows too)."""
    if not home.is_local:
        yield
        return
    from filelock import FileLock

    home.mkdir()
    with FileLock(str(Path(home.uri) / ".lock")):
        yield


@dataclass(frozen=True)
class ResolvedEntry:
    """An entry id resolved to one revision folder: ``.location`` (and ``.path`` when the zoo is local)."""

    dataset: str
    name: str
    revision: str
    location: Location

    @property
    def id(self) -> str:
        return f"{self.dataset}/{self.name}@{self.revision}"

    @property
    def path(self) -> Path:
        return self.location.local_path()

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return self.id


def _not_found(ref: EntryRef, zoo: Location) -> EntryNotFoundError:
    import difflib

    known = [f"{e.dataset}/{e.name}" for e in list(zoo=zoo)] if zoo.is_dir() else []
    close = difflib.get_close_matches(ref.id, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return EntryNotFoundError(
        f"no zoo entry {ref.id!r} in {zoo.uri}{hint}", fix=f"medzoo zoo list --zoo {zoo.uri}"
    )


def resolve_entry(entry: str, *, zoo: ZooLike) -> ResolvedEntry:
    """The revision folder of ``entry`` (``<dataset>/<name>[@rN]``; default the newest) inside ``zoo``."""
    ref = parse_entry(entry)
    root = location(zoo)
    home = entry_home(root, ref)
    revs = revisions(home)
    if not revs:
        raise _not_found(ref, root)
    revision = ref.revision or revs[-1]
    if revision not in revs:
        raise EntryNotFoundError(
            f"entry {ref.id!r} has revisions {builtins.list(revs)}, not {revision!r}",
            fix=f"use {ref.id}@{revs[-1]} or leave the revision out for the newest",
        )
    loc = _inside(root, home / revision, entry)
    if not (loc / CONFIG).exists():
        raise EntryNotFoundError(
            f"entry {ref.id}@{revision}: {(loc / CONFIG).uri} is missing; the revision is incomplete"
        )
    return ResolvedEntry(ref.dataset, ref.name, revision, loc)


def read_config(where: Location | str | os.PathLike[str]) -> EntryConfig:
    """The entry folder's validated ``config.json`` (links refused, every field checked)."""
    folder = location(where)
    return EntryConfig.read(folder / CONFIG, root=folder)


def read_metrics(where: Location | str | os.PathLike[str]) -> EntryMetrics:
    """The entry folder's validated ``metrics.json`` (links refused): what boards and cards read."""
    folder = location(where)
    return EntryMetrics.read(folder / EntryMetrics.FILENAME, root=folder)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_verified_weights(where: Location | str | os.PathLike[str], cfg: EntryConfig) -> bytes:
    """The bytes of ``model.safetensors`` after checking them against ``config.json``'s sha256."""
    folder = location(where)
    weights = folder / WEIGHTS
    if not weights.exists():
        raise EntryNotFoundError(f"{weights.uri} is missing; an entry's weights must be in model.safetensors")
    try:
        data = weights.read_bytes(max_bytes=MAX_WEIGHTS_BYTES, root=folder)
    except StorageError as exc:
        raise UnsafeNameError(exc.message, fix=exc.fix) from None
    expected = cfg.medzoo.weights_sha256
    found = sha256_bytes(data)
    if expected != found:
        raise IntegrityError(
            f"{weights.uri}: sha256 must equal config.json's medzoo.weights_sha256={expected}, found {found}; "
            "the weights were modified or corrupted, so they are refused",
            fix="pull or publish the entry again",
        )
    return data


def _check_architecture(cfg: EntryConfig) -> None:
    """Only medzoo's registered families and timm's own names are built (never hf-hub:/local-dir:)."""
    import timm

    import medzoo.zoo.architectures.families  # noqa: F401  (registers medzoo_* into timm)

    if not timm.is_model(cfg.architecture):
        import difflib

        close = difflib.get_close_matches(cfg.architecture, timm.list_models(), n=3)
        raise ZooError(
            f"config.json: architecture {cfg.architecture!r} must be a medzoo family or a timm model; it is neither"
            + (f" (close: {', '.join(close)})" if close else ""),
            fix="install the medzoo/timm version that published the entry, or re-publish it",
        )


def build_model(cfg: EntryConfig, weights: bytes | None = None):
    """Rebuild the entry's model (``pretrained=False``: nothing is fetched) and load safetensors bytes."""
    import timm

    _check_architecture(cfg)
    try:
        model = timm.create_model(
            cfg.architecture, pretrained=False, num_classes=cfg.num_classes, **dict(cfg.model_args)
        )
    except (RuntimeError, TypeError, ValueError, AssertionError, MedzooError) as exc:
        raise ZooError(
            f"config.json: cannot build architecture {cfg.architecture!r} with model_args {dict(cfg.model_args)}: "
            f"{exc}",
            fix="the entry's config.json does not fit this architecture; re-publish it",
        ) from None
    if weights is not None:
        _load_weights(model, cfg, weights)
    model.eval()
    return model


def _load_weights(model, cfg: EntryConfig, weights: bytes) -> None:
    from safetensors.torch import load as load_safetensors

    try:
        state = load_safetensors(weights)
    except Exception as exc:  # safetensors raises its own error type for malformed headers
        raise ZooError(f"model.safetensors is not a readable safetensors file ({exc})") from None
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatch, e.g. a classifier for another class count
        first = str(exc).strip().splitlines()[-1].strip()
        raise ZooError(
            f"model.safetensors must fit {cfg.architecture!r} with num_classes={cfg.num_classes} "
            f"(config.json); {first}",
            fix="config.json and the weights disagree; re-publish the entry",
        ) from None
    if missing or unexpected:
        raise ZooError(
            f"weights must match architecture {cfg.architecture!r}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )


@contextlib.contextmanager
def local_copy(resolved: ResolvedEntry) -> Iterator[Path]:
    """The revision as a local folder: itself when the zoo is local, else a temporary download."""
    if resolved.location.is_local:
        yield resolved.path
        return
    with tempfile.TemporaryDirectory(prefix="medzoo-entry-") as tmp:
        yield resolved.location.download_to(Path(tmp) / "entry")


def open_entry(entry: str, *, zoo: ZooLike) -> tuple[ResolvedEntry, EntryConfig, Any]:
    """Resolve, validate and build ``entry`` with its verified weights: (resolved, config, model)."""
    resolved = resolve_entry(entry, zoo=zoo)
    cfg = read_config(resolved.location)
    return resolved, cfg, build_model(cfg, read_verified_weights(resolved.location, cfg))


def load(entry: str, *, zoo: ZooLike | None = None):
    """``(model, preprocess, labels)`` for ``entry`` (``<dataset>/<name>[@rN]``), weights verified.

    ``zoo`` defaults to ``$MEDZOO_HOME/zoo`` (the CLI's default too). ``preprocess`` maps a uint8 image (H, W) or (H, W, 3) to the normalised float
    tensor (3, H, W) at the entry's input size, exactly as in training.
    """
    from medzoo.paths import default_zoo, resolve_home
    from medzoo.zoo.inference.imageio import Preprocess

    _, cfg, model = open_entry(entry, zoo=default_zoo(resolve_home()) if zoo is None else zoo)
    return model, Preprocess.from_config(cfg.pretrained_cfg), builtins.list(cfg.label_names)


@dataclass(frozen=True)
class EntryInfo:
    """One row of ``medzoo zoo list``: enough to choose an entry without opening it."""

    id: str  # <dataset>/<name>@<revision>
    dataset: str
    name: str
    revision: str
    revisions: tuple[str, ...]
    path: str  # the revision folder: a local path, or its URI on an object store
    architecture: str
    family: str
    task: str
    primary_metric: str | None
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n_test: int | None
    params: int | None
    gmacs: float | None
    pointing_game: float | None
    published_at: str | None
    data_kind: str | None
    split_protocol: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EntryProblem:
    """An entry revision that cannot be read, with the reason (one line naming the file)."""

    id: str
    path: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class ZooListing:
    """``list()``'s result: the readable entries and the problems; iterates (and compares) as its entries."""

    entries: tuple[EntryInfo, ...]
    problems: tuple[EntryProblem, ...] = ()

    def __iter__(self) -> Iterator[EntryInfo]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> EntryInfo:
        return self.entries[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ZooListing):
            return (self.entries, self.problems) == (other.entries, other.problems)
        if isinstance(other, builtins.list | tuple):
            return builtins.list(self.entries) == builtins.list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        return {
            "entries": [e.to_dict() for e in self.entries],
            "problems": [p.to_dict() for p in self.problems],
        }


def info(where: Location | str | os.PathLike[str], *, revisions: tuple[str, ...] = ()) -> EntryInfo:
    """The list row of one revision folder; FormatError/ZooError name the file that cannot be read."""
    folder = location(where)
    cfg = read_config(folder)
    med = cfg.medzoo
    metrics = read_metrics(folder) if (folder / EntryMetrics.FILENAME).exists() else None
    primary = metrics.primary if metrics else None
    cx = metrics.complexity if metrics else None
    pg = metrics.gradcam.pointing_game if metrics and metrics.gradcam else None
    return EntryInfo(
        id=f"{med.dataset}/{folder.parent.name}@{folder.name}",
        dataset=med.dataset,
        name=folder.parent.name,
        revision=folder.name,
        revisions=revisions or (folder.name,),
        path=folder.uri,
        architecture=cfg.architecture,
        family=med.family,
        task=med.task,
        primary_metric=metrics.primary_metric if metrics else None,
        value=primary.value if primary else None,
        ci_low=primary.ci_low if primary else None,
        ci_high=primary.ci_high if primary else None,
        n_test=metrics.n if metrics else None,
        params=cx.params if cx else None,
        gmacs=cx.gmacs if cx else None,
        pointing_game=pg.value if pg else None,
        published_at=med.published_at,
        data_kind=med.data_kind,
        split_protocol=med.split_protocol,
    )


def _named_dirs(folder: Location) -> builtins.list[Location]:
    """Sub-folders with valid names; local links are kept so that listing reports them as problems."""
    return [
        c
        for c in folder.iterdir()
        if _NAME_RE.fullmatch(c.name) and (c.is_dir() or (c.is_local and os.path.islink(c.uri)))
    ]


def _list_home(
    root: Location, home: Location, *, all_revisions: bool
) -> tuple[builtins.list[EntryInfo], builtins.list[EntryProblem]]:
    entry = f"{home.parent.name}/{home.name}"
    try:
        revs = revisions(_inside(root, home, entry))
    except MedzooError as exc:
        return [], [EntryProblem(id=entry, path=home.uri, reason=exc.message)]
    found, problems = [], []
    for rev in revs if all_revisions else revs[-1:]:
        try:
            found.append(info(_inside(root, home / rev, f"{entry}@{rev}"), revisions=revs))
        except MedzooError as exc:
            problems.append(EntryProblem(id=f"{entry}@{rev}", path=(home / rev).uri, reason=exc.message))
    return found, problems


def list(*, zoo: ZooLike, dataset: str | None = None, all_revisions: bool = False) -> ZooListing:  # noqa: A001
    """Entries in ``zoo`` (newest revision of each, or every revision), sorted by dataset and name.

    An entry that cannot be read (corrupt metrics.json, bad config.json, a link) is
    reported in ``problems`` with its reason; every other entry is still listed.
    """
    root = location(zoo)
    if dataset is not None:
        _check_part("dataset", dataset, dataset)
    if not root.is_dir():
        return ZooListing(entries=())
    entries: builtins.list[EntryInfo] = []
    problems: builtins.list[EntryProblem] = []
    for ds_dir in _named_dirs(root):
        if dataset is not None and ds_dir.name != dataset:
            continue
        for home in _named_dirs(ds_dir):
            found, bad = _list_home(root, home, all_revisions=all_revisions)
            entries += found
            problems += bad
    return ZooListing(entries=tuple(entries), problems=tuple(problems))


def verify_folder(folder: Location | str | os.PathLike[str]) -> EntryConfig:
    """Check a whole revision folder: no links at any depth, config.json valid, weights match their sha256."""
    loc = location(folder)
    try:
        for _ in loc.walk():
            pass
    except StorageError as exc:
        raise UnsafeNameError(exc.message, fix=exc.fix) from None
    cfg = read_config(loc)
    read_verified_weights(loc, cfg)
    return cfg


def _check_pull_target(to: Path) -> None:
    if to.exists() and (to.is_symlink() or not to.is_dir() or any(to.iterdir())):
        raise ZooError(
            f"pull target {to} must not exist or be an empty folder; it holds files already",
            fix="choose another --to folder",
        )


def pull(entry: str, *, zoo: ZooLike, to: str | os.PathLike[str] | None = None) -> Path:
    """Verify ``entry`` and copy that revision to ``to`` (a new folder); without ``to`` return its zoo path.

    The copy is downloaded into a temporary sibling of ``to``, verified again there
    (no links, config.json valid, sha256 of the weights) and renamed into place, so
    ``to`` is either a complete, intact entry or absent.
    """
    resolved = resolve_entry(entry, zoo=zoo)
    if resolved.location.is_local:
        verify_folder(resolved.location)
    if to is None:
        if not resolved.location.is_local:
            raise ZooError(
                f"{resolved.id} is in an object-store zoo ({resolved.location.uri}); pulling it needs a local target",
                fix="pass --to DIR",
            )
        return resolved.path
    to = Path(to).expanduser().absolute()
    _check_pull_target(to)
    to.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{to.name}.pull-", dir=to.parent))
    try:
        staged = resolved.location.download_to(tmp / "entry")
        verify_folder(staged)
        _check_pull_target(to)
        if to.is_dir():
            to.rmdir()
        os.rename(staged, to)  # fails if a non-empty folder appeared meanwhile
    except StorageError as exc:
        raise UnsafeNameError(exc.message, fix=exc.fix) from None
    except OSError as exc:
        raise ZooError(f"pull target {to} appeared meanwhile; it is not replaced ({exc.strerror})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return to


# -- committing a new revision ------------------------------------------------------------------------


@dataclass(frozen=True)
class Reservation:
    """A revision number claimed for one publisher: ``<home>/.<rN>.claim`` holds its token."""

    home: Location
    revision: str
    token: str

    @property
    def claim(self) -> Location:
        return self.home / f".{self.revision}.claim"

    def check(self) -> None:
        """Still ours? (On an object store a racing writer could have replaced the claim.)"""
        if not self.claim.exists() or self.claim.read_text() != self.token:
            raise ZooError(
                f"{(self.home / self.revision).uri} was claimed by another publisher meanwhile; nothing was written",
                fix="publish again: the next free revision is taken",
            )

    def release(self) -> None:
        with contextlib.suppress(MedzooError, OSError):
            if self.claim.exists() and self.claim.read_text() == self.token:
                self.claim.delete()


#: claims and partial folders older than this were left by a killed publisher (a publish takes minutes)
STALE_AFTER_S = 24 * 3600


def _clean_stale(home: Location) -> None:
    """Remove what killed publishers left in a local entry: old claims and ``.rN.partial-*`` folders."""
    import time

    folder = Path(home.uri)
    if not home.is_local or not folder.is_dir():
        return
    for p in folder.iterdir():
        stale = p.name.startswith(".") and (p.name.endswith(".claim") or ".partial-" in p.name)
        with contextlib.suppress(OSError):
            if stale and not p.is_symlink() and time.time() - p.lstat().st_mtime > STALE_AFTER_S:
                shutil.rmtree(p) if p.is_dir() else p.unlink()


def reserve_revision(home: Location) -> Reservation:
    """Claim the first free ``rN`` with a no-replace write of ``.rN.claim`` that must read back as ours."""
    _clean_stale(home)
    token = uuid.uuid4().hex
    for _ in range(50):
        res = Reservation(home=home, revision=next_revision(home), token=token)
        try:
            res.claim.write_text(token, replace=False)
        except StorageError:
            continue  # another publisher took it first
        if res.claim.read_text() == token:
            return res
    raise ZooError(
        f"{home.uri}: could not claim a new revision after 50 tries; other publishers keep winning"
    )


def _upload(local: Path, target: Location) -> None:
    """Copy a verified folder into ``target``, which must not exist; config.json last on object stores."""
    if target.is_local:
        target.upload_from(location(local), replace=False)  # appears whole, by a rename that never replaces
        return
    if (target / CONFIG).exists():
        raise StorageError(f"{target.uri} exists already; it is not replaced")
    for rel, src in location(local).walk():
        if rel != CONFIG:
            (target / rel).write_bytes(src.read_bytes())
    (target / CONFIG).write_bytes((local / CONFIG).read_bytes(), replace=False)  # the completion mark


def commit_revision(res: Reservation, local: Path) -> str:
    """Add the revision folder ``local`` as ``res.revision``, after verifying it; never overwrites."""
    verify_folder(location(local))
    res.check()
    try:
        _upload(local, res.home / res.revision)
    except StorageError as exc:
        raise ZooError(
            f"{exc.message}; another publisher wrote it at the same time", fix="publish again"
        ) from None
    with revision_lock(res.home):
        add_revision(res.home, res.revision)
    return res.revision


@contextlib.contextmanager
def new_revision(home: Location) -> Iterator[tuple[str, Path]]:
    """``(rN, local folder)``: fill the folder; on a clean exit it is verified and committed as ``rN``.

    The folder is a local temporary one (also for object-store zoos: it is uploaded
    when complete); on an error nothing is committed and the claim is released.
    """
    res = reserve_revision(home)
    try:
        with tempfile.TemporaryDirectory(prefix="medzoo-publish-") as tmp:
            yield res.revision, Path(tmp)
            commit_revision(res, Path(tmp))
    finally:
        res.release()
