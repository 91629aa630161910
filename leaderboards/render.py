"""HTML pages from boards: one Jinja2 environment (autoescape on) shared by the static site and the server.

Both write the same tree, so every link is relative and works from ``file://``,
any static host, and the live server alike::

    index.html  <dataset>.html  <dataset>.json  <dataset>.md  <dataset>/pareto.svg
    <dataset>/<name>/index.html  README.md  plots/...  gradcam/...   (+ try.html when live)
    static/style.css  static/board.js
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from medzoo.leaderboards import format as fmt
from medzoo.leaderboards.board import TIE_RULE, Board, Row

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@functools.lru_cache(maxsize=1)
def environment():
    """Autoescaping for every template and every variable; undefined names fail loudly."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(fmt=fmt, tie_rule=TIE_RULE, entry_href=entry_href, card_href=card_href)
    return env


def entry_href(row: Row) -> str:
    """From a board page (site root) to the entry page."""
    return f"{row.dataset}/{row.name}/index.html"


def card_href(row: Row) -> str:
    return f"{row.dataset}/{row.name}/README.md"


def render_card(markdown_text: str) -> Any:
    """Card Markdown -> HTML with raw HTML disabled (shown as text) and unsafe link schemes refused."""
    from markdown_it import MarkdownIt
    from markupsafe import Markup

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
    return Markup(md.render(markdown_text))


def card_images(markdown_text: str) -> set[str]:
    """Relative image paths the card body shows itself (so the gallery does not repeat them)."""
    return {m.strip() for m in re.findall(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)", markdown_text)}


class Pages:
    """Renders every page; ``live`` adds the try-a-model links that only the server can answer."""

    def __init__(self, *, live: bool) -> None:
        self.live = live
        self.env = environment()

    def _render(self, template: str, *, root: str, **context: Any) -> str:
        return self.env.get_template(template).render(root=root, live=self.live, **context)

    def index(self, boards: list[Board]) -> str:
        return self._render("index.html", root="", title="Leaderboards", boards=boards)

    def board(self, board: Board) -> str:
        return self._render(
            "board.html",
            root="",
            title=f"{board.dataset} leaderboard",
            board=board,
            ref_metrics=fmt.reference_metrics(board),
        )

    def entry(self, row: Row, card_text: str) -> str:
        shown = card_images(card_text)
        gallery = [img for img in row.images if img not in shown]
        return self._render(
            "entry.html",
            root="../../",
            title=row.model,
            row=row,
            card_html=render_card(card_text),
            gallery=gallery,
        )

    def try_page(
        self,
        row: Row,
        *,
        max_mb: int,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        error_title: str = "Cannot use this file",
    ) -> str:
        return self._render(
            "try.html",
            root="../../",
            title=f"Try {row.model}",
            row=row,
            max_mb=max_mb,
            result=result,
            error=error,
            error_title=error_title,
        )

    def error(self, status: int, reason: str, message: str, *, root: str = "/") -> str:
        return self._render(
            "error.html", root=root, title=f"{status} {reason}", status=status, reason=reason, message=message
        )

    def report(self, row: Row, result: dict[str, Any], *, created: str) -> str:
        return self._render("report.html", root="", row=row, result=result, created=created)
