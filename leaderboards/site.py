"""The static site: ``medzoo leaderboard build --out SITE``.

No server and no CDN: plain files with relative links (see ``render``), so it
works from ``file://`` and any static host. The whole tree is written into a
temporary sibling of SITE and renamed into place when complete; an existing
SITE is replaced only if it is a medzoo site (it carries a marker file), so a
typo in ``--out`` cannot wipe an unrelated folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from medzoo.errors import ConfigError, ZooError
from medzoo.leaderboards.board import BOARD_DATASETS, Board, Row, read_card, table
from medzoo.leaderboards.markdown import to_markdown
from medzoo.leaderboards.pareto import pareto_svg
from medzoo.leaderboards.render import STATIC, Pages, card_href
from medzoo.paths import atomic_dir

MARKER = ".medzoo-site"


def board_datasets(zoo: Path) -> list[str]:
    """The five study datasets, then any other dataset that has entries in ``zoo``."""
    from medzoo import zoo as zoo_api

    present = {e.dataset for e in zoo_api.list(zoo=zoo)}
    return list(BOARD_DATASETS) + sorted(present - set(BOARD_DATASETS) - {"kaggle-brain-mri"})


def all_boards(zoo: Path) -> list[Board]:
    return [table(ds, zoo=zoo) for ds in board_datasets(zoo)]


def entry_dir(zoo: Path, row: Row) -> Path:
    """The entry revision folder a row was read from (``row.card`` is relative to the zoo)."""
    return zoo / Path(row.card).parent


def build_site(*, zoo: str | Path, out: str | Path) -> Path:
    """Write the static site for every board of ``zoo`` into ``out``; returns ``out``."""
    zoo, out = Path(zoo), Path(out)
    if out.exists() and not (out.is_dir() and ((out / MARKER).is_file() or not any(out.iterdir()))):
        raise ConfigError(
            f"--out {out} exists and is not a medzoo site (no {MARKER} inside); refusing to replace it",
            fix="choose a new --out folder, or remove that one yourself",
        )
    boards = all_boards(zoo)
    pages = Pages(live=False)
    with atomic_dir(out, replace=True) as tmp:
        shutil.copytree(STATIC, tmp / "static")
        (tmp / "index.html").write_text(pages.index(boards), encoding="utf-8")
        for board in boards:
            write_board(tmp, board, zoo=zoo, pages=pages)
        (tmp / MARKER).write_text("written by medzoo leaderboard build; safe to replace\n", encoding="utf-8")
    return out


def write_board(site: Path, board: Board, *, zoo: Path, pages: Pages) -> None:
    """One dataset's page, JSON, Markdown, Pareto SVG and entry pages (with their card images)."""
    import json

    ds = board.dataset
    (site / ds).mkdir(parents=True, exist_ok=True)
    (site / f"{ds}.html").write_text(pages.board(board), encoding="utf-8")
    (site / f"{ds}.json").write_text(json.dumps(board.to_dict(), indent=2) + "\n", encoding="utf-8")
    links = {r.entry_id: card_href(r) for r in board.rows}
    (site / f"{ds}.md").write_text(to_markdown(board, card_links=links), encoding="utf-8")
    (site / ds / "pareto.svg").write_text(pareto_svg(board), encoding="utf-8")
    for row in board.rows:
        src = entry_dir(zoo, row)
        dst = site / ds / row.name
        dst.mkdir(parents=True)
        _, text = read_card(src)
        (dst / "index.html").write_text(pages.entry(row, text), encoding="utf-8")
        shutil.copy2(src / "README.md", dst / "README.md")
        for rel in row.images:
            source = src / rel
            if source.is_symlink() or not source.resolve().is_relative_to(src.resolve()):
                raise ZooError(
                    f"{source} is a symlink or points outside its entry; entries must hold plain files"
                )
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dst / rel)
