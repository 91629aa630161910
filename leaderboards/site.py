"""The static site: ``medzoo leaderboard build --out SITE``.

No server and no CDN: plain files with relative links (see ``render``), so it
works from ``file://`` and any static host. The zoo is read through
``medzoo.storage`` (a local folder or an ``s3://`` / ``gs://`` URI); every file
copied out of an entry is read link-checked and size-bounded, so nothing that
resolves outside its entry lands in the site. An entry that fails while its
pages are written is moved to its board's problems, never half-copied.

The whole tree is written into a temporary sibling of SITE and renamed into
place when complete. An existing SITE is replaced only if it is a medzoo site
(it carries a marker file), so a typo in ``--out`` cannot wipe an unrelated
folder; and a SITE that appeared (or was replaced) while this build ran is never
overwritten: the later build fails with a clear error instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from medzoo.errors import ConfigError, MedzooError, StorageError
from medzoo.leaderboards.board import Board, Row, table
from medzoo.leaderboards.entries import (
    MAX_CARD_BYTES,
    board_dataset_ids,
    child,
    eval_only_ids,
    read_card,
    read_file,
    zoo_datasets,
    zoo_location,
)
from medzoo.leaderboards.markdown import to_markdown
from medzoo.leaderboards.pareto import pareto_svg
from medzoo.leaderboards.render import STATIC, Pages, card_href
from medzoo.leaderboards.sweeps import sweeps_of
from medzoo.paths import remove_dead_partials

if TYPE_CHECKING:
    from medzoo.storage import Location

MARKER = ".medzoo-site"
_PARTIAL = ".partial-"


def board_datasets(zoo: str | Path | Location) -> list[str]:
    """The registry's datasets that get a board, then any other dataset that has a folder in ``zoo``."""
    fixed = board_dataset_ids()
    present = set(zoo_datasets(zoo_location(zoo)))
    return list(fixed) + sorted(present - set(fixed) - set(eval_only_ids()))


def all_boards(zoo: str | Path | Location) -> list[Board]:
    root = zoo_location(zoo)
    return [table(ds, zoo=root) for ds in board_datasets(root)]


def entry_parts(row: Row) -> tuple[str, ...]:
    """``(dataset, name, revision)`` of the entry revision a row was read from."""
    return tuple(row.card.split("/")[:-1])


def entry_dir(zoo: str | Path | Location, row: Row) -> Location:
    """The entry revision folder a row was read from (``row.card`` is relative to the zoo)."""
    return child(zoo_location(zoo), *entry_parts(row))


def card_text(zoo: Location, row: Row) -> str:
    """The Markdown body of the row's card, read again (link-checked) for its page."""
    return read_card(child(zoo, *entry_parts(row), "README.md"), zoo=zoo)[1]


def build_site(*, zoo: str | Path | Location, out: str | Path) -> Path:
    """Write the static site for every board of ``zoo`` into ``out`` (a local folder); returns ``out``."""
    root, out = zoo_location(zoo), Path(out).expanduser().absolute()
    before = _existing_site(out)
    boards = all_boards(root)
    pages = Pages(live=False)
    with _temporary_sibling(out) as tmp:
        shutil.copytree(STATIC, tmp / "static")
        for board in boards:
            write_board(tmp, board, zoo=root, pages=pages)
        (tmp / "index.html").write_text(pages.index(boards), encoding="utf-8")
        (tmp / MARKER).write_text("written by medzoo leaderboard build; safe to replace\n", encoding="utf-8")
        _publish(tmp, out, before=before)
    return out


def write_board(site: Path, board: Board, *, zoo: Location, pages: Pages) -> None:
    """One dataset's entry pages (with their card and images), then its page, JSON, Markdown, Pareto SVG,
    dataset page and one page per sweep that produced entries.

    Entries go first: one that cannot be copied (changed or linked since the board
    was read) leaves the board and is listed under its problems.
    """
    ds = board.dataset
    (site / ds).mkdir(parents=True, exist_ok=True)
    kept = []
    for row in board.rows:
        try:
            _write_entry(site / ds / row.name, row, zoo=zoo, pages=pages)
            kept.append(row)
        except MedzooError as exc:
            shutil.rmtree(site / ds / row.name, ignore_errors=True)
            board.problems.append(f"{row.entry_id}: {exc.message}")
    board.rows = kept
    (site / f"{ds}.html").write_text(pages.board(board), encoding="utf-8")
    (site / f"{ds}.json").write_text(json.dumps(board.to_dict(), indent=2) + "\n", encoding="utf-8")
    links = {r.entry_id: card_href(r) for r in board.rows}
    (site / f"{ds}.md").write_text(to_markdown(board, card_links=links), encoding="utf-8")
    (site / ds / "pareto.svg").write_text(pareto_svg(board), encoding="utf-8")
    (site / ds / "_dataset.html").write_text(pages.dataset(board), encoding="utf-8")
    for sweep in sweeps_of(board):
        (site / ds / "_sweeps").mkdir(exist_ok=True)
        (site / ds / "_sweeps" / f"{sweep.slug}.html").write_text(pages.sweep(sweep), encoding="utf-8")


def _write_entry(dst: Path, row: Row, *, zoo: Location, pages: Pages) -> None:
    parts = entry_parts(row)
    dst.mkdir(parents=True)
    (dst / "index.html").write_text(pages.entry(row, card_text(zoo, row)), encoding="utf-8")
    (dst / "README.md").write_bytes(read_file(zoo, parts, "README.md", max_bytes=MAX_CARD_BYTES))
    for rel in row.images:
        target = dst.joinpath(*rel.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read_file(zoo, parts, rel))


# -- atomic publication ------------------------------------------------------------------------------


def _existing_site(out: Path) -> tuple[int, int] | None:
    """The identity (device, inode) of the medzoo site at ``out``, None when there is nothing; refuses
    to go on when ``out`` holds something else."""
    if not os.path.lexists(out):
        return None
    empty = out.is_dir() and not out.is_symlink() and not any(out.iterdir())
    if out.is_symlink() or not out.is_dir() or not ((out / MARKER).is_file() or empty):
        raise ConfigError(
            f"--out {out} exists and is not a medzoo site (no {MARKER} inside); refusing to replace it",
            fix="choose a new --out folder, or remove that one yourself",
        )
    return _identity(out)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


@contextlib.contextmanager
def _temporary_sibling(out: Path) -> Iterator[Path]:
    """A fresh folder beside ``out`` (removed on failure); leftovers of killed builds are cleaned first."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_dead_partials(out, marker=_PARTIAL)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{_PARTIAL}{os.getpid()}-", dir=out.parent))
    except OSError as exc:
        raise ConfigError(
            f"--out {out}: cannot write into {out.parent} ({exc.strerror or exc})",
            fix="choose a folder you can write to",
        ) from None
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, out: Path, *, before: tuple[int, int] | None) -> None:
    """Move the finished site into place, never over a site that appeared or changed meanwhile."""
    if _identity(out) != before:
        raise StorageError(
            f"--out {out} was created or replaced by another build while this one ran; it is not replaced",
            fix="run the build again once the other one has finished",
        )
    try:
        if before is None:
            _rename(tmp, out, flags=_RENAME_NOREPLACE)
        else:
            _rename(tmp, out, flags=_RENAME_EXCHANGE)  # tmp now holds the old site; removed on exit
    except FileExistsError:
        raise StorageError(
            f"--out {out} appeared while this build ran; it is not replaced",
            fix="run the build again once the other one has finished",
        ) from None


_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2


def _rename(src: Path, dst: Path, *, flags: int) -> None:
    """``renameat2`` (Linux): refuse an existing target, or swap two folders atomically. Elsewhere, the
    closest portable steps (a check, then rename)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform == "linux" else None
    fn = getattr(libc, "renameat2", None)
    if fn is not None:
        at_fdcwd = -100
        if fn(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), flags) == 0:
            return
        err = ctypes.get_errno()
        if err not in (22, 38):  # EINVAL / ENOSYS: the filesystem cannot; fall through
            raise (
                FileExistsError(err, os.strerror(err), str(dst))
                if err == 17
                else OSError(err, os.strerror(err))
            )
    if flags == _RENAME_NOREPLACE:
        if os.path.lexists(dst):
            raise FileExistsError(17, "exists", str(dst))
        os.rename(src, dst)
        return
    old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
    os.replace(dst, old)
    os.replace(src, dst)
    os.replace(old, src)
