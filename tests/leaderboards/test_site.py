"""The static site: builds atomically, every link resolves, hostile names stay text."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from medzoo.errors import ConfigError
from medzoo.leaderboards import BOARD_DATASETS, build_site

HOSTILE = '<script>alert("name")</script><img src=x onerror=alert(1)>'
HOSTILE_CARD = (
    '# Card\n\n<script>alert("card")</script>\n\n<img src=x onerror=alert(2)>\n\n'
    "[click](javascript:alert(3))\n\n![cm](plots/confusion_matrix.png)\n"
)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.outbound: list[str] = []  # <a href> to another site: a reader's navigation, never a resource
        self.scripts: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("href", "src") and value is not None:
                outbound = tag == "a" and key == "href" and urlsplit(value).scheme == "https"
                (self.outbound if outbound else self.links).append(value)
            if key.startswith("on"):
                self.handlers.append(f"{tag} {key}")
        if tag == "script":
            self.scripts.append(dict(attrs).get("src") or "<inline>")


@pytest.fixture
def site(make_entry: Callable[..., Path], tmp_path: Path) -> Path:
    make_entry("figshare-brain", "effnet-b2", value=0.93, ci=(0.91, 0.95), gmacs=1.0)
    make_entry("figshare-brain", "effnet-b0", value=0.90, ci=(0.85, 0.94), gmacs=0.4)
    make_entry("figshare-brain", "hostile", value=0.5, gmacs=3.0, model_name=HOSTILE, card_text=HOSTILE_CARD)
    make_entry("chestxray14", "cxr", value=0.7, primary="mean_auroc", data_kind="real")
    make_entry("chestxray14", "tampered", value=0.6, primary="mean_auroc", data_kind="real", card_value=0.9)
    return build_site(zoo=make_entry.zoo, out=tmp_path / "site")  # type: ignore[attr-defined]


def test_site_has_every_page_and_every_link_resolves(site: Path) -> None:
    for ds in BOARD_DATASETS:
        for suffix in (".html", ".json", ".md"):
            assert (site / f"{ds}{suffix}").is_file()
        assert (site / ds / "pareto.svg").is_file()
    pages = sorted(site.rglob("*.html"))
    assert {p.relative_to(site).as_posix() for p in pages} >= {
        "index.html",
        "figshare-brain.html",
        "figshare-brain/effnet-b2/index.html",
        "chestxray14/cxr/index.html",
    }
    checked = 0
    for page in pages:
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for link in parser.links:
            parts = urlsplit(link)
            assert not parts.scheme and not parts.netloc and not link.startswith("/"), f"{page}: {link}"
            if not parts.path:
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            assert target.is_relative_to(site.resolve()) and target.exists(), f"{page}: broken link {link}"
            checked += 1
        # the only links that leave the site: paper rows to a DOI search, opened by the reader
        assert {urlsplit(u).netloc for u in parser.outbound} <= {"search.crossref.org", "doi.org"}, page
        assert parser.scripts == [parser.scripts[0]] and parser.scripts[0].endswith("static/board.js")
    assert checked > 40


def test_board_json_markdown_and_pareto_svg(site: Path) -> None:
    doc = json.loads((site / "figshare-brain.json").read_text())
    assert [r["name"] for r in doc["rows"]] == ["effnet-b2", "effnet-b0", "hostile"]
    assert [r["rank"] for r in doc["rows"]] == ["=1", "=1", "3"]
    assert doc["reference"] and doc["reference"][0]["label"] == "paper-reported"
    assert json.loads((site / "chestxray14.json").read_text())["primary_metric"] == "mean_auroc"
    svg = ET.parse(site / "figshare-brain" / "pareto.svg").getroot()
    circles = [
        c
        for c in svg.iter("{http://www.w3.org/2000/svg}circle")
        if c.find("{http://www.w3.org/2000/svg}title") is not None
    ]
    assert len(circles) == 3
    filled = [c for c in circles if c.get("fill") != "#ffffff"]
    assert len(filled) == 2  # b2 and b0 are the front; the hostile row is dominated
    md = (site / "figshare-brain.md").read_text()
    assert "(<figshare-brain/effnet-b2/README.md>)" in md


def test_phantom_boards_say_so_on_the_page(site: Path) -> None:
    board = (site / "figshare-brain.html").read_text()
    assert "PHANTOM DATA" in board and "data: phantom" in board
    assert "PHANTOM DATA" not in (site / "chestxray14.html").read_text()
    cxr = (site / "chestxray14.html").read_text()
    assert "data: real" in cxr
    # an entry whose card disagrees with its metrics is not ranked, and the page says why
    assert "Entries that could not be read" in cxr and "tampered" in cxr and "must agree" in cxr
    assert not (site / "chestxray14" / "tampered").exists()


def test_hostile_names_and_card_text_never_become_markup(site: Path) -> None:
    for page in [*site.rglob("*.html"), *site.rglob("*.svg"), *site.glob("*.md")]:
        text = page.read_text(encoding="utf-8")
        assert "<script>alert" not in text and "<img src=x" not in text, page
        assert "javascript:" not in text.replace("[click](javascript:alert(3))", ""), page
        parser = _Links()
        parser.feed(text)
        assert parser.handlers == [], f"{page}: event handler attributes {parser.handlers}"
    entry = (site / "figshare-brain" / "hostile" / "index.html").read_text()
    assert "&lt;script&gt;alert" in entry  # shown as text, not dropped
    assert '<img src="plots/confusion_matrix.png" alt="cm"' in entry  # ordinary card Markdown still renders


def test_rebuild_replaces_a_site_but_never_an_unrelated_folder(site: Path, tmp_path: Path) -> None:
    (site / "stale.html").write_text("old")
    build_site(zoo=tmp_path / "zoo", out=site)
    assert not (site / "stale.html").exists() and (site / "index.html").is_file()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(ConfigError, match="not a medzoo site"):
        build_site(zoo=tmp_path / "zoo", out=precious)
    assert (precious / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
