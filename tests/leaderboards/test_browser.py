"""Real Chromium (Debian's package) via Playwright: open a board, sort it, open an entry, try the model.

Screenshots go to ``artifacts/screenshots/`` at the repository root (a CI artifact).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from medzoo.leaderboards import build_site, make_server

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"Debian's chromium is not installed at {CHROMIUM} (CI installs it: apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory, tiny_zoo: Path, entry_writer: Callable[..., Path]) -> Path:
    """The published tiny zoo, plus card-only entries so the board has something to sort (and one hostile name)."""
    zoo = tmp_path_factory.mktemp("browser") / "zoo"
    shutil.copytree(tiny_zoo, zoo)
    entry_writer(zoo, "figshare-brain", "wide-model", value=0.55, ci=(0.40, 0.70), gmacs=9.0)
    entry_writer(
        zoo,
        "figshare-brain",
        "hostile",
        value=0.35,
        ci=(0.20, 0.50),
        gmacs=0.001,
        model_name=HOSTILE,
        card_text=HOSTILE,
    )
    return zoo


@pytest.fixture(scope="module")
def base_url(zoo: Path) -> Iterator[str]:
    server = make_server(zoo=zoo, host="127.0.0.1", port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _column(page, table: str, index: int) -> list[str]:
    return page.eval_on_selector_all(
        f"{table} tbody tr",
        f"rows => rows.map(r => r.cells[{index}].getAttribute('data-value') || r.cells[{index}].textContent.trim())",
    )


def _header_index(page, table: str, title: str) -> int:
    headers = page.eval_on_selector_all(f"{table} thead th", "hs => hs.map(h => h.textContent.trim())")
    return headers.index(title)


def test_board_sort_entry_and_try_a_model(
    browser, base_url: str, prepared_phantom: Callable[[str], Path]
) -> None:
    from medzoo import datasets

    prepared = prepared_phantom("figshare-brain")
    manifest = datasets.read_manifest(prepared)
    image = prepared / manifest[manifest["split"] == "test"].iloc[0]["path"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page = browser.new_page(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(base_url + "figshare-brain.html")
    assert "PHANTOM DATA" in page.inner_text("main")
    table = "table.board[data-kind=phantom]"
    gmacs = _header_index(page, table, "GMACs")
    page.click(f"{table} thead th:nth-child({gmacs + 1})")
    ascending = [float(v) for v in _column(page, table, gmacs)]
    assert ascending == sorted(ascending) and len(ascending) == 4
    page.click(f"{table} thead th:nth-child({gmacs + 1})")
    descending = [float(v) for v in _column(page, table, gmacs)]
    assert descending == sorted(ascending, reverse=True)
    assert page.get_attribute(f"{table} thead th:nth-child({gmacs + 1})", "aria-sort") == "descending"
    page.screenshot(path=str(SCREENSHOTS / "board.png"), full_page=True)

    page.click(f"{table} a.model[href='figshare-brain/tiny_cnn/index.html']")
    page.wait_for_url("**/figshare-brain/tiny_cnn/index.html")
    assert "figshare-brain/tiny_cnn@r1" in page.inner_text("p.meta")
    page.click("#try-link")
    page.set_input_files("#image", str(image))
    page.click("#try-form button[type=submit]")
    page.wait_for_selector("#result", timeout=120_000)
    probabilities = page.eval_on_selector_all(
        "table.probs tbody tr", "rows => rows.map(r => r.cells[0].textContent)"
    )
    assert sorted(probabilities) == ["glioma", "meningioma", "pituitary"]
    assert page.inner_text("#predicted") in probabilities
    assert page.eval_on_selector("#cam-img", "img => img.complete && img.naturalWidth > 0")
    page.screenshot(path=str(SCREENSHOTS / "try-a-model.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#report-pdf")
    assert download.value.suggested_filename.endswith(".pdf")

    page.goto(base_url + "figshare-brain/hostile/index.html")
    page.goto(base_url + "figshare-brain/hostile/try.html")
    page.set_input_files("#image", {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not an image"})
    page.click("#try-form button[type=submit]")
    assert "not a PNG, JPEG or DICOM" in page.inner_text("#error")
    assert dialogs == [] and errors == []
    page.close()


def test_static_site_works_from_file_urls(browser, zoo: Path, tmp_path: Path) -> None:
    site = build_site(zoo=zoo, out=tmp_path / "site")
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto((site / "index.html").as_uri())
    page.click("a[href='figshare-brain.html']")
    assert page.eval_on_selector("figure.pareto img", "img => img.complete && img.naturalWidth > 0")
    table = "table.board[data-kind=phantom]"
    rank = _header_index(page, table, "rank")
    model = _header_index(page, table, "model")
    page.click(f"{table} thead th:nth-child({model + 1})")
    names = _column(page, table, model)
    assert names == sorted(names, key=str.lower) and HOSTILE in names
    page.click(f"{table} thead th:nth-child({rank + 1})")
    assert [int(v) for v in _column(page, table, rank)] == [1, 2, 3, 4]
    page.click(f"{table} a.model[href='figshare-brain/hostile/index.html']")
    assert HOSTILE in page.inner_text("h1")  # shown as text
    assert dialogs == []
    page.close()
