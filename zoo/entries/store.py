"""The local zoo on disk: entry names, revisions, listing, verified loading and pulling.

Layout (docs/contracts.md): ``ZOO/<dataset>/<name>/<rN>/`` holds one revision in
Hugging Face repo layout; ``ZOO/<dataset>/<name>/refs.json`` names the revisions
and the latest. Entry ids are ``<dataset>/<name>[@rN]``. Names are checked
against a strict pattern before any path is built, and every resolved path must
stay inside the zoo root, so a hostile id (``../x``, ``/etc``, ``a\\b``) or a
symlink cannot make medzoo read or write elsewhere. Weights are safetensors only
and are checked against the sha256 in ``config.json`` before they are used.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from medzoo.errors import EntryNotFoundError, IntegrityError, UnsafeNameError, ZooError
from medzoo.paths import atomic_dir, atomic_write_json

NAME_PATTERN = r"[a-z0-9][a-z0-9_.-]{0,63}"
_NAME_RE = re.compile(NAME_PATTERN)
_REV_RE = re.compile(r"r[1-9][0-9]{0,5}")
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
REFS = "refs.json"


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


def _inside(zoo: Path, path: Path, entry: str) -> Path:
    root = zoo.resolve()
    real = path.resolve()
    if real != root and root not in real.parents:
        raise UnsafeNameError(f"entry {entry!r} resolves to {real}, outside the zoo root {root}; refusing it")
    return path


def entry_home(zoo: str | Path, ref: EntryRef) -> Path:
    """``ZOO/<dataset>/<name>`` for a parsed id (checked to stay inside the zoo)."""
    zoo = Path(zoo)
    return _inside(zoo, zoo / ref.dataset / ref.name, str(ref))


def read_refs(home: Path) -> dict[str, Any]:
    path = home / REFS
    if not path.is_file():
        return {"latest": None, "revisions": []}
    try:
        refs = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ZooError(f"{path} must be JSON {{latest, revisions}}; it does not parse ({exc})") from None
    if not isinstance(refs, dict) or not isinstance(refs.get("revisions"), builtins.list):
        raise ZooError(f"{path} must hold {{'latest': 'rN', 'revisions': [...]}}, got {refs!r}")
    return refs


@contextlib.contextmanager
def revision_lock(home: Path) -> Iterator[None]:
    """Serialise revision allocation for one entry (two publishes never get the same rN)."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def next_revision(home: Path) -> str:
    """The first unused ``rN`` (looking at refs.json and the folders, so nothing is ever overwritten)."""
    used = set(read_refs(home)["revisions"])
    if home.is_dir():
        used |= {p.name for p in home.iterdir() if _REV_RE.fullmatch(p.name)}
    n = max((int(r[1:]) for r in used), default=0) + 1
    return f"r{n}"


def add_revision(home: Path, revision: str) -> None:
    refs = read_refs(home)
    revisions = sorted(set(refs["revisions"]) | {revision}, key=lambda r: int(r[1:]))
    atomic_write_json(home / REFS, {"latest": revisions[-1], "revisions": revisions})


@dataclass(frozen=True)
class ResolvedEntry:
    """An entry id resolved to one revision folder; ``.path`` (also usable as an os.PathLike)."""

    dataset: str
    name: str
    revision: str
    path: Path

    @property
    def id(self) -> str:
        return f"{self.dataset}/{self.name}@{self.revision}"

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return self.id


def resolve_entry(entry: str, *, zoo: str | Path) -> ResolvedEntry:
    """The revision folder of ``entry`` (``<dataset>/<name>[@rN]``; default the newest) inside ``zoo``."""
    ref = parse_entry(entry)
    home = entry_home(zoo, ref)
    refs = read_refs(home)
    if not refs["revisions"]:
        known = [f"{e.dataset}/{e.name}" for e in list(zoo=zoo)] if Path(zoo).is_dir() else []
        import difflib

        close = difflib.get_close_matches(ref.id, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise EntryNotFoundError(
            f"no zoo entry {ref.id!r} in {zoo}{hint}", fix=f"medzoo zoo list --zoo {zoo}"
        )
    revision = ref.revision or refs["latest"]
    if revision not in refs["revisions"]:
        raise EntryNotFoundError(
            f"entry {ref.id!r} has revisions {refs['revisions']}, not {revision!r}",
            fix=f"use {ref.id}@{refs['latest']} or leave the revision out for the newest",
        )
    path = _inside(Path(zoo), home / revision, entry)
    if not (path / CONFIG).is_file():
        raise EntryNotFoundError(
            f"entry {ref.id}@{revision}: {path / CONFIG} is missing; the revision is incomplete"
        )
    return ResolvedEntry(ref.dataset, ref.name, revision, path)


def read_config(path: Path) -> dict[str, Any]:
    cfg_path = Path(path) / CONFIG
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EntryNotFoundError(f"{cfg_path} is missing: not a zoo entry folder") from None
    except json.JSONDecodeError as exc:
        raise ZooError(f"{cfg_path} must be JSON; it does not parse ({exc})") from None
    for key in ("architecture", "num_classes", "label_names", "pretrained_cfg", "medzoo"):
        if key not in cfg:
            raise ZooError(f"{cfg_path} must have the key {key!r} (zoo entry contract); it is missing")
    return cfg


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_verified_weights(path: Path, cfg: dict[str, Any]) -> bytes:
    """The bytes of ``model.safetensors`` after checking them against ``config.json``'s sha256."""
    weights = Path(path) / WEIGHTS
    if not weights.is_file():
        raise EntryNotFoundError(f"{weights} is missing; an entry's weights must be in model.safetensors")
    data = weights.read_bytes()
    expected = cfg["medzoo"].get("weights_sha256")
    found = sha256_bytes(data)
    if expected != found:
        raise IntegrityError(
            f"{weights}: sha256 must equal config.json's medzoo.weights_sha256={expected}, found {found}; "
            "the weights were modified or corrupted, so they are refused",
            fix="pull or publish the entry again",
        )
    return data


def build_model(cfg: dict[str, Any], weights: bytes | None = None):
    """Rebuild the entry's model through timm (``medzoo_<family>``) and load safetensors bytes."""
    import timm
    from safetensors.torch import load as load_safetensors

    import medzoo.zoo.architectures.families  # noqa: F401  (registers medzoo_* into timm)

    try:
        model = timm.create_model(
            cfg["architecture"],
            pretrained=False,
            num_classes=int(cfg["num_classes"]),
            **cfg.get("model_args", {}),
        )
    except RuntimeError as exc:
        raise ZooError(
            f"cannot build architecture {cfg['architecture']!r} with model_args {cfg.get('model_args')}: {exc}"
        ) from None
    if weights is not None:
        state = load_safetensors(weights)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ZooError(
                f"weights must match architecture {cfg['architecture']!r}: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}"
            )
    model.eval()
    return model


def load(entry: str, *, zoo: str | Path):
    """``(model, preprocess, labels)`` for ``entry`` (``<dataset>/<name>[@rN]``), weights verified.

    ``preprocess`` maps a uint8 image (H, W) or (H, W, 3) to the normalised float
    tensor (3, H, W) at the entry's input size, exactly as in training.
    """
    from medzoo.zoo.inference.imageio import Preprocess

    path = resolve_entry(entry, zoo=zoo).path
    cfg = read_config(path)
    model = build_model(cfg, read_verified_weights(path, cfg))
    return model, Preprocess.from_config(cfg["pretrained_cfg"]), builtins.list(cfg["label_names"])


@dataclass(frozen=True)
class EntryInfo:
    """One row of ``medzoo zoo list``: enough to choose an entry without opening it."""

    id: str  # <dataset>/<name>@<revision>
    dataset: str
    name: str
    revision: str
    revisions: tuple[str, ...]
    path: str
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


def info(path: Path, *, revisions: tuple[str, ...] = ()) -> EntryInfo:
    cfg = read_config(path)
    med = cfg["medzoo"]
    metrics: dict[str, Any] = {}
    mpath = path / "metrics.json"
    if mpath.is_file():
        metrics = json.loads(mpath.read_text(encoding="utf-8"))
    primary = metrics.get("primary_metric")
    pm = metrics.get("metrics", {}).get(primary, {}) if primary else {}
    cx = metrics.get("complexity", {})
    pg = metrics.get("gradcam", {}).get("pointing_game", {})
    return EntryInfo(
        id=f"{med['dataset']}/{path.parent.name}@{path.name}",
        dataset=med["dataset"],
        name=path.parent.name,
        revision=path.name,
        revisions=revisions or (path.name,),
        path=str(path),
        architecture=cfg["architecture"],
        family=med.get("family", ""),
        task=med.get("task", ""),
        primary_metric=primary,
        value=pm.get("value"),
        ci_low=pm.get("ci_low"),
        ci_high=pm.get("ci_high"),
        n_test=metrics.get("n"),
        params=cx.get("params"),
        gmacs=cx.get("gmacs"),
        pointing_game=pg.get("value"),
        published_at=med.get("published_at"),
        data_kind=med.get("data_kind"),
        split_protocol=med.get("split_protocol"),
    )


def list(
    *, zoo: str | Path, dataset: str | None = None, all_revisions: bool = False
) -> builtins.list[EntryInfo]:  # noqa: A001
    """Entries in ``zoo`` (newest revision of each, or every revision), sorted by dataset and name."""
    zoo = Path(zoo)
    if dataset is not None:
        _check_part("dataset", dataset, dataset)
    if not zoo.is_dir():
        return []
    out: builtins.list[EntryInfo] = []
    for ds_dir in sorted(p for p in zoo.iterdir() if p.is_dir() and _NAME_RE.fullmatch(p.name)):
        if dataset is not None and ds_dir.name != dataset:
            continue
        for home in sorted(p for p in ds_dir.iterdir() if p.is_dir() and _NAME_RE.fullmatch(p.name)):
            refs = read_refs(home)
            if not refs["revisions"]:
                continue
            revs = tuple(refs["revisions"])
            chosen = revs if all_revisions else (refs["latest"],)
            out.extend(
                info(_inside(zoo, home / r, f"{ds_dir.name}/{home.name}@{r}"), revisions=revs) for r in chosen
            )
    return out


def pull(entry: str, *, zoo: str | Path, to: str | Path | None = None) -> Path:
    """Verify ``entry`` and copy that revision to ``to`` (a new folder); without ``to`` return its zoo path.

    The copy is written beside ``to`` and renamed into place, and its weights are
    verified again after copying, so ``to`` is either a complete, intact entry or absent.
    """
    path = resolve_entry(entry, zoo=zoo).path
    cfg = read_config(path)
    read_verified_weights(path, cfg)
    if to is None:
        return path
    to = Path(to)
    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise ZooError(
            f"pull target {to} must not exist or be an empty folder; it holds files already",
            fix="choose another --to folder",
        )
    if to.is_dir():
        to.rmdir()
    with atomic_dir(to) as tmp:
        for item in path.iterdir():
            if item.is_symlink():
                raise UnsafeNameError(f"{item} is a symlink; zoo entries must hold regular files only")
            if item.is_dir():
                shutil.copytree(item, tmp / item.name, symlinks=False)
            else:
                shutil.copy2(item, tmp / item.name)
        read_verified_weights(tmp, read_config(tmp))
    return to
