"""Reading the zoo for the boards: which entries exist, and each entry's files, through one storage layer.

The zoo root is a :class:`medzoo.storage.Location`, so a local folder, a shared
mount and ``s3://`` / ``gs://`` are the same code. Entries are untrusted: every
path below the zoo root is checked for symbolic links before anything is read
(a ``README.md`` linked to ``/etc/passwd`` or a plot linked three folders down is
refused, naming the path), every read is size-bounded, and one bad entry becomes
a :class:`Problem` instead of an exception, so the other entries keep working.

The entry's files are read in exactly one place, :func:`_read_entry`, through the
zoo's typed records (``medzoo.formats.entry``); nothing here parses their JSON.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medzoo.errors import MedzooError, ZooError

if TYPE_CHECKING:
    from medzoo.formats.entry import EntryConfig, EntryMetrics, SearchProvenance
    from medzoo.storage import Location

#: the entry folders whose images the views show and copy
IMAGE_DIRS = ("plots", "gradcam")
#: files of plots/ and gradcam/ that the views show
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})  # no SVG: it can carry script
#: bounds on what one entry may make us read (a hostile entry cannot fill memory)
MAX_CARD_BYTES = 4 * 2**20
MAX_IMAGE_BYTES = 32 * 2**20
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Problem:
    """One entry (or zoo folder) that could not be shown, and why."""

    entry: str  # <dataset>/<name>, or the folder's path relative to the zoo
    reason: str  # names the file

    def __str__(self) -> str:
        return f"{self.entry}: {self.reason}"


@dataclass(frozen=True)
class EntryRef:
    """The latest revision of one entry, found by listing the zoo."""

    dataset: str
    name: str
    revision: str
    revisions: tuple[str, ...]
    location: Location  # the revision folder


@dataclass(frozen=True)
class EntryFiles:
    """What the boards take from one entry revision: the zoo's typed records plus the card."""

    metrics: EntryMetrics  # metrics.json
    config: EntryConfig  # config.json
    search: SearchProvenance | None  # search.json, when the entry has one
    card_data: Any  # huggingface_hub.ModelCardData
    card_text: str  # the card's Markdown body
    images: tuple[str, ...]  # plots/... and gradcam/..., relative to the entry


def zoo_location(zoo: str | Path | Location) -> Location:
    """The zoo root as a storage Location (a local path, ``file://``, ``s3://`` or ``gs://`` URI)."""
    from medzoo.storage import Location, location

    return zoo if isinstance(zoo, Location) else location(zoo)


def display(loc: Location) -> str:
    """How messages name a file: the local path where there is one, else the URI."""
    return str(loc.local_path()) if loc.is_local else loc.uri


def child(zoo: Location, *parts: str) -> Location:
    """``zoo / parts...``, refusing a symbolic link at any component below the zoo root (local zoos).

    Object stores have no links; a local entry folder, revision folder or file
    that is a link would let the entry read, serve or copy something outside it.
    """
    loc = zoo / "/".join(parts)
    loc.check_inside(zoo)
    return loc


def list_entries(zoo: Location, dataset: str) -> tuple[list[EntryRef], list[Problem]]:
    """The latest revision of every entry of ``dataset`` in ``zoo``; unreadable ones become problems."""
    refs: list[EntryRef] = []
    problems: list[Problem] = []
    try:
        home = child(zoo, dataset)
        names = sorted(p.name for p in home.iterdir()) if home.is_dir() else []
    except MedzooError as exc:
        return [], [Problem(dataset, exc.message)]
    for name in names:
        if not _NAME.fullmatch(name):
            continue
        try:
            refs.append(_entry_ref(zoo, dataset, name))
        except MedzooError as exc:
            problems.append(Problem(f"{dataset}/{name}", exc.message))
        except OSError as exc:
            problems.append(Problem(f"{dataset}/{name}", f"cannot be read ({exc})"))
    return refs, problems


def zoo_datasets(zoo: Location) -> list[str]:
    """The dataset folders of ``zoo`` (names only; a missing zoo has none)."""
    try:
        if not zoo.is_dir():
            return []
        return sorted(p.name for p in zoo.iterdir() if _NAME.fullmatch(p.name) and p.is_dir())
    except MedzooError:
        return []


def _entry_ref(zoo: Location, dataset: str, name: str) -> EntryRef:
    from medzoo.formats.entry import Refs

    home = child(zoo, dataset, name)
    if not home.is_dir():
        raise ZooError(f"{display(home)} is not a folder")
    refs = Refs.read(child(zoo, dataset, name, Refs.FILENAME), root=zoo)
    if refs.latest is None:
        raise ZooError(f"{display(home)}: refs.json lists no revision", fix="re-publish the entry")
    return EntryRef(dataset, name, refs.latest, refs.revisions, child(zoo, dataset, name, refs.latest))


def read_entry(ref: EntryRef, *, zoo: Location) -> EntryFiles:
    """The files of one entry revision; a MedzooError names the bad file (links, size, format, card)."""
    return _read_entry(zoo, (ref.dataset, ref.name, ref.revision))


def _read_entry(zoo: Location, parts: tuple[str, ...]) -> EntryFiles:
    """The one place that reads an entry's files, through the zoo engineer's records."""
    from medzoo.formats.entry import EntryConfig, EntryMetrics, SearchProvenance

    search_json = child(zoo, *parts, SearchProvenance.FILENAME)
    card_data, card_text = read_card(child(zoo, *parts, "README.md"), zoo=zoo)
    return EntryFiles(
        metrics=_record(EntryMetrics, zoo, parts),
        config=_record(EntryConfig, zoo, parts),
        search=_record(SearchProvenance, zoo, parts) if search_json.exists() else None,
        card_data=card_data,
        card_text=card_text,
        images=entry_images(zoo, parts),
    )


def _record(cls: Any, zoo: Location, parts: tuple[str, ...]) -> Any:
    """``cls.read`` of the entry's file, link-checked; an OS error (a folder in its place) names the file."""
    loc = child(zoo, *parts, cls.FILENAME)
    try:
        return cls.read(loc, root=zoo)
    except OSError as exc:
        raise ZooError(f"{display(loc)} cannot be read ({exc.strerror or exc})") from None


def read_card(readme: Location, *, zoo: Location) -> tuple[Any, str]:
    """(``ModelCardData``, Markdown body) of a model card."""
    from huggingface_hub import ModelCard

    if not readme.is_file():
        raise ZooError(
            f"{display(readme)}: the model card is missing; every zoo entry must have one",
            fix="medzoo publish RUN (re-publish the entry)",
        )
    text = readme.read_text(max_bytes=MAX_CARD_BYTES, root=zoo)
    try:
        card = ModelCard(text, ignore_metadata_errors=True)
    except Exception as exc:  # huggingface_hub raises several types for malformed YAML
        raise ZooError(
            f"{display(readme)}: the model card's YAML front matter cannot be read ({exc})"
        ) from None
    return card.data, card.text


def entry_images(zoo: Location, parts: tuple[str, ...]) -> tuple[str, ...]:
    """Image files under plots/ and gradcam/ (sorted); a link anywhere below them refuses the entry."""
    found: list[str] = []
    for sub in IMAGE_DIRS:
        folder = child(zoo, *parts, sub)
        if folder.is_dir():
            found += [
                f"{sub}/{rel}" for rel, _ in folder.walk() if Path(rel).suffix.lower() in IMAGE_SUFFIXES
            ]
    return tuple(sorted(found))


def read_file(zoo: Location, parts: tuple[str, ...], rel: str, *, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """The bytes of ``rel`` in an entry (``README.md``, ``plots/x.png``), every component checked for links."""
    loc = child(zoo, *parts, rel)
    try:
        return loc.read_bytes(max_bytes=max_bytes, root=zoo)
    except OSError as exc:
        raise ZooError(f"{display(loc)} cannot be read ({exc.strerror or exc})") from None


@functools.lru_cache(maxsize=1)
def board_dataset_ids() -> tuple[str, ...]:
    """Datasets that get a board: every registered dataset except evaluation-only ones (cross-dataset columns)."""
    from medzoo import datasets

    return tuple(i for i in datasets.ids() if not datasets.get(i).eval_only)


@functools.lru_cache(maxsize=1)
def eval_only_ids() -> tuple[str, ...]:
    """Registered datasets used only for cross-dataset evaluation (shown as columns of other boards)."""
    from medzoo import datasets

    return tuple(i for i in datasets.ids() if datasets.get(i).eval_only)
