"""HTML pages from boards: one Jinja2 environment (autoescape on) shared by the static site and the server.

Both write the same tree, so every link is relative and works from ``file://``,
any static host, and the live server alike::

    index.html  <dataset>.html  <dataset>.json  <dataset>.md  <dataset>/pareto.svg
    <dataset>/_dataset.html  <dataset>/_sweeps/<run>.html    (entry names never start with "_")
    <dataset>/<name>/index.html  README.md  plots/...  gradcam/...   (+ try.html when live)
    static/style.css  static/board.js
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from medzoo.leaderboards import format as fmt
from medzoo.leaderboards.board import TIE_RULE, Board, Row
from medzoo.leaderboards.pareto import COSTS, pareto_svg
from medzoo.leaderboards.sweeps import Sweep, history_svg, importance, parallel_svg, sweeps_of

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
    env.globals.update(
        fmt=fmt,
        tie_rule=TIE_RULE,
        entry_href=entry_href,
        card_href=card_href,
        doi_search=doi_search,
        dataset_href=dataset_href,
        sweep_href=sweep_href,
    )
    env.filters["wbr"] = breakable
    return env


def breakable(name: str) -> Any:
    """``name`` escaped, with a line-break opportunity after each ``_`` (long metric names in narrow
    headers), so the board table fits the window without breaking words anywhere."""
    from markupsafe import Markup, escape

    return Markup("_<wbr>").join(escape(part) for part in str(name).split("_"))


def entry_href(row: Row) -> str:
    """From a board page (site root) to the entry page."""
    return f"{row.dataset}/{row.name}/index.html"


def card_href(row: Row) -> str:
    return f"{row.dataset}/{row.name}/README.md"


def dataset_href(dataset: str) -> str:
    """From the site root to the dataset page."""
    return f"{dataset}/_dataset.html"


def sweep_href(dataset: str, slug: str) -> str:
    """From the site root to a sweep page."""
    return f"{dataset}/_sweeps/{slug}.html"


def doi_search(title: str) -> str:
    """A search for the study's DOI: Crossref's search (the DOI registration agency's own index).

    medzoo keeps the studies as protocols, not bibliographic records, and does not invent
    identifiers, so a reader is sent to the search rather than to a guessed ``doi.org`` link.
    """
    return "https://search.crossref.org/search/works?from_ui=yes&q=" + quote_plus(title)


def dataset_spec(dataset: str) -> Any:
    """The registry's spec of ``dataset``, or None for a zoo folder the registry does not know."""
    from medzoo import datasets
    from medzoo.errors import MedzooError

    try:
        return datasets.get(dataset)
    except MedzooError:
        return None


def pulled_folder(row: Row) -> str:
    """The folder ``medzoo pull ENTRY --to ...`` creates in the entry page's snippets; the card's own
    ``<this folder>`` placeholder is shown as this path."""
    return f"./{row.dataset}-{row.name}-{row.revision}"


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
        from markupsafe import Markup

        plots = {key: Markup(pareto_svg(board, x=key, href=entry_href)) for key in COSTS}
        return self._render(
            "board.html",
            root="",
            title=f"{board.dataset} leaderboard",
            board=board,
            ref_metrics=fmt.reference_metrics(board),
            plots=plots,
            cost_labels={key: label for key, (label, _) in COSTS.items()},
            sweeps=sweeps_of(board),
            spec=dataset_spec(board.dataset),
        )

    def dataset(self, board: Board) -> str:
        """The dataset page: the registry's dataset card (classes, modality, splits, citation, licence)."""
        return self._render(
            "dataset.html",
            root="../",
            title=f"{board.dataset} dataset",
            board=board,
            spec=dataset_spec(board.dataset),
        )

    def sweep(self, sweep: Sweep) -> str:
        from markupsafe import Markup

        return self._render(
            "sweep.html",
            root="../../",
            title=f"sweep {sweep.first.run_name}",
            sweep=sweep,
            history=Markup(history_svg(sweep)),
            parallel=Markup(parallel_svg(sweep)),
            importance=importance(sweep),
        )

    def entry(self, row: Row, card_text: str) -> str:
        shown = card_images(card_text)
        # the overlays' inputs are try-a-model's examples, not evidence of their own
        gallery = [img for img in row.images if img not in shown and not img.startswith("gradcam/inputs/")]
        pulled = pulled_folder(row)
        return self._render(
            "entry.html",
            root="../../",
            title=row.model,
            row=row,
            card_html=render_card(card_text.replace("<this folder>", pulled)),
            gallery=gallery,
            pulled=pulled,
        )

    def try_page(
        self,
        row: Row,
        *,
        max_mb: int,
        choices: list[Row] | None = None,
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
            choices=choices or [row],
            examples=[img for img in row.images if img.startswith("gradcam/inputs/")],
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
