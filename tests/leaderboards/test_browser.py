"""Real Chromium (Debian's package) via Playwright: open a board, sort it, open an entry, try the model;
compare two entries, hover and click the Pareto plot, open the dataset and sweep pages.

Screenshots go to ``artifacts/screenshots/`` at the repository root (a CI artifact).
"""

from __future__ import annotations

import json
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
def zoo(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_zoo: Path,
    entry_writer: Callable[..., Path],
) -> Path:
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
    # a second sweep (real-data entries, so the phantom board above keeps its four rows) with three trials
    for i, (lr, batch, val) in enumerate([(1e-2, 16, 0.62), (1e-3, 32, 0.71), (1e-4, 32, 0.69)]):
        path = entry_writer(zoo, "figshare-brain", f"sweep-{i}", value=val, data_kind="real", gmacs=1.0 + i)
        _write_search(path, trial_id=f"t{i:04d}", config={"lr": lr, "batch_size": batch, "seed": 0}, val=val)
    # the real tiny entry's example inputs are the ones publishing wrote under gradcam/inputs/
    return zoo


def _write_search(entry: Path, *, trial_id: str, config: dict[str, object], val: float) -> None:
    """search.json as the zoo writes it (formats/entry.py SearchProvenance), one trial of a hostile-named run."""
    row = {"trial_id": trial_id, "status": "TERMINATED", **{f"config.{k}": v for k, v in config.items()}}
    doc = {
        "run": "/runs/lr-sweep",
        "run_name": f"lr-sweep {HOSTILE}",
        "search": "random",
        "scheduler": "asha",
        "primary_metric": "accuracy",
        "mode": "max",
        "trials": 12,
        "configurations_compared": 12,
        "trial_id": trial_id,
        "best_config": config,
        "trial_row": {**row, "val_accuracy": val, "test_accuracy": val - 0.05},
    }
    (entry / "search.json").write_text(json.dumps(doc))


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
    # comparing and the Pareto plot work from file:// too (no server, no fetch)
    page.check("input.compare-pick[value='figshare-brain/tiny_cnn']")
    page.check("input.compare-pick[value='figshare-brain/hostile']")
    assert page.is_visible("#compare") and HOSTILE in page.inner_text("#compare h2")
    page.click(".pareto-view[data-x=gmacs] a.pt[data-entry='figshare-brain/wide-model']")
    page.wait_for_url("**/figshare-brain/wide-model/index.html")
    page.go_back()
    page.click(f"{table} a.model[href='figshare-brain/hostile/index.html']")
    assert HOSTILE in page.inner_text("h1")  # shown as text
    assert dialogs == []
    page.close()


def test_board_fits_1400px_shows_directions_and_filters(browser, base_url: str) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base_url + "figshare-brain.html")
    table = "table.board[data-kind=phantom]"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    assert page.eval_on_selector(table, "t => t.scrollWidth <= t.parentElement.clientWidth + 1")
    gmacs = _header_index(page, table, "GMACs")
    header = f"{table} thead th:nth-child({gmacs + 1})"
    assert page.get_attribute(header, "data-better") == "lower"
    arrow = page.eval_on_selector(header, "h => getComputedStyle(h, '::before').content")
    sortable = page.eval_on_selector(header, "h => getComputedStyle(h, '::after').content")
    assert "\u2193" in arrow and sortable not in ("none", "normal", "")  # direction and a sort affordance
    page.fill("input.board-filter", "wide-model")
    visible = page.eval_on_selector_all(f"{table} tbody tr:not([hidden])", "rs => rs.length")
    assert visible == 1 and "1 of" in page.inner_text(".toolbar .shown")
    page.fill("input.board-filter", "")
    page.select_option("select.board-family", "tiny_cnn")
    families = page.eval_on_selector_all(
        f"{table} tbody tr:not([hidden])", "rs => rs.map(r => r.getAttribute('data-family'))"
    )
    assert families and set(families) == {"tiny_cnn"}
    page.select_option("select.board-family", "")
    page.screenshot(path=str(SCREENSHOTS / "board-1400.png"), full_page=True)

    page.goto(base_url + "figshare-brain/tiny_cnn/index.html")
    text = page.inner_text("main")
    assert "<this folder>" not in text and "medzoo pull figshare-brain/tiny_cnn@r1" in text
    assert page.eval_on_selector_all("table.revisions tbody tr", "rs => rs.length") >= 1
    assert page.eval_on_selector_all("table.hparams tbody tr", "rs => rs.length") >= 1
    page.screenshot(path=str(SCREENSHOTS / "entry.png"), full_page=True)
    assert errors == []
    page.close()


def _watch(page) -> tuple[list[str], list[str]]:
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    return dialogs, errors


def test_compare_pareto_dataset_and_sweep_pages(browser, base_url: str) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    dialogs, errors = _watch(page)
    page.goto(base_url + "figshare-brain.html")
    visible = "rs => rs.filter(r => !r.hidden).map(r => r.querySelector('input.compare-pick').value)"
    page.select_option("select.board-kind", "real")
    assert page.eval_on_selector_all("table.board tbody tr", visible) == [
        f"figshare-brain/sweep-{i}" for i in (1, 2, 0)
    ]
    page.select_option("select.board-kind", "")
    page.select_option("select.board-size", "0-1")  # the tiny CNNs have 0.02 M parameters, the others 5 M
    small = page.eval_on_selector_all("table.board tbody tr", visible)
    assert sorted(small) == ["figshare-brain/tiny_cnn", "figshare-brain/tiny_cnn-2"]
    page.select_option("select.board-size", "")
    assert page.is_hidden("#compare")
    page.check("input.compare-pick[value='figshare-brain/tiny_cnn']")
    assert page.is_hidden("#compare") and "1 more" in page.inner_text(".compare-status")
    page.check("input.compare-pick[value='figshare-brain/tiny_cnn-2']")
    assert page.is_disabled("input.compare-pick[value='figshare-brain/wide-model']")  # two at most
    section = page.locator("#compare")
    assert section.is_visible() and "#compare=" in page.url
    metrics = page.eval_on_selector_all(
        "#compare table.compare-metrics tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))"
    )
    accuracy = next(r for r in metrics if r[0].endswith("accuracy"))
    assert all("[" in v for v in accuracy[1:])  # values with their intervals
    differs = page.eval_on_selector_all(
        "#compare table.compare-config tr.differs", "rs => rs.map(r => r.cells[0].textContent)"
    )
    same = page.eval_on_selector_all(
        "#compare table.compare-config tr.same", "rs => rs.map(r => r.cells[0].textContent)"
    )
    assert "lr" in differs and "epochs" in differs and "family" in same  # the tiny run's two configurations
    pairs = page.locator("#compare figure.cam-pair")
    assert pairs.count() == 6  # the same six test images, one overlay of each model
    widths = page.eval_on_selector_all(
        "#compare figure.cam-pair img",
        "is => Promise.all(is.map(i => i.decode().then(() => i.naturalWidth)))",
    )
    assert len(widths) == 12 and min(widths) > 0
    section.screenshot(path=str(SCREENSHOTS / "compare.png"))

    # the Pareto plot: hover shows the entry, the axis switches to parameters, a click opens the entry
    point = ".pareto-view[data-x=gmacs] a.pt[data-entry='figshare-brain/wide-model']"
    page.hover(point)
    assert page.is_visible("#pareto-tip") and "wide-model" in page.inner_text("#pareto-tip")
    page.screenshot(path=str(SCREENSHOTS / "board-pareto.png"), full_page=True)
    page.select_option("#pareto-x", "params")
    assert page.is_hidden(".pareto-view[data-x=gmacs]") and page.is_visible(".pareto-view[data-x=params]")
    hostile = ".pareto-view[data-x=params] a.pt[data-entry='figshare-brain/hostile']"
    page.hover(hostile)
    assert HOSTILE in page.inner_text("#pareto-tip")  # the name as text
    page.click(hostile)
    page.wait_for_url("**/figshare-brain/hostile/index.html")

    # the dataset page, from the registry's dataset card
    page.goto(base_url + "figshare-brain.html")
    page.click("#dataset-link")
    page.wait_for_url("**/figshare-brain/_dataset.html")
    card = page.inner_text("table.dataset-card")
    assert "glioma" in card and "meningioma" in card and "pituitary" in card and "MRI" in card
    assert page.inner_text("td.citation").strip() and page.inner_text("td.licence").strip()
    page.screenshot(path=str(SCREENSHOTS / "dataset.png"), full_page=True)

    # sweep pages: the three-trial sweep has importance; the tiny run (two trials) says why it has none
    page.goto(base_url + "figshare-brain.html")
    links = page.eval_on_selector_all(
        "a.sweep-link", "as => as.map(a => [a.textContent, a.getAttribute('href')])"
    )
    assert len(links) == 2 and any(HOSTILE in text for text, _ in links)
    page.click("a.sweep-link:has-text('lr-sweep')")
    assert page.locator("table.trials tbody tr").count() == 3
    assert page.locator("figure.parallel polyline.trial").count() == 3
    assert page.locator("figure.history circle.trial").count() == 3
    importance = page.eval_on_selector_all(
        "table.importance tbody tr", "rs => rs.map(r => r.cells[0].textContent)"
    )
    assert sorted(importance) == ["batch_size", "lr"]  # seed does not vary, so it explains nothing
    assert "3 trials of this run" in page.inner_text("#sweep-coverage") and "out of 12" in page.inner_text(
        "#sweep-coverage"
    )
    page.screenshot(path=str(SCREENSHOTS / "sweep.png"), full_page=True)
    page.go_back()
    page.click("a.sweep-link:text-is('run')")
    assert page.locator("table.trials tbody tr").count() == 2 and page.is_visible("#no-importance")
    assert dialogs == [] and errors == []
    page.close()


def test_try_a_model_examples_entry_choice_and_threshold(browser, base_url: str) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    dialogs, errors = _watch(page)
    page.goto(base_url + "figshare-brain/tiny_cnn/try.html")
    choices = page.eval_on_selector_all("#entry-choice option", "os => os.map(o => o.value)")
    assert "../tiny_cnn-2/try.html" in choices and "../wide-model/try.html" in choices
    first = page.get_attribute("form.example-form input[name=example]", "value")
    assert first.startswith("gradcam/inputs/")
    page.click("form.example-form button.example")
    page.wait_for_selector("#result", timeout=120_000)
    assert first.rsplit("/", 1)[-1] in page.inner_text("#result h2")
    assert page.eval_on_selector("#cam-img", "img => img.complete && img.naturalWidth > 0")
    assert page.eval_on_selector("#features-img", "img => img.complete && img.naturalWidth > 0")
    assert page.inner_text("#features figcaption").startswith("feature maps of ")
    loaded = (
        "() => [...document.querySelectorAll('button.example img')].every(i => i.complete && i.naturalWidth)"
    )
    page.wait_for_function(
        loaded, timeout=30_000
    )  # every example thumbnail is served (and shown in the shot)
    predicted = page.inner_text("#predicted")
    assert page.inner_text("#decision") == predicted  # multi-class, minimum confidence 0: the top class
    set_threshold = "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }"
    page.eval_on_selector("#threshold", set_threshold, "1")
    assert (
        page.inner_text("#decision").startswith("uncertain") and page.inner_text("#threshold-value") == "1.00"
    )
    page.screenshot(path=str(SCREENSHOTS / "try-a-model.png"), full_page=True)
    page.eval_on_selector("#threshold", set_threshold, "0")
    assert page.inner_text("#decision") == predicted
    page.select_option("#entry-choice", "../tiny_cnn-2/try.html")
    page.wait_for_url("**/figshare-brain/tiny_cnn-2/try.html")
    assert "tiny_cnn-2" in page.inner_text("p.meta")
    assert dialogs == [] and errors == []
    page.close()
