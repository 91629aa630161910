"""The exploring views without a browser: sweep pages and importance, the Pareto plot's links, the dataset
page, threshold decisions, and the same pages from the static site and the server."""

from __future__ import annotations

import http.client
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from medzoo.leaderboards import build_site, make_server, table
from medzoo.leaderboards.pareto import pareto_svg
from medzoo.leaderboards.server import decide
from medzoo.leaderboards.sweeps import importance, sweeps_of

HOSTILE = '<script>alert("s")</script>'


def _search(
    entry: Path, *, trial: str, config: dict[str, object], val: float | None, run: str = "/r/a"
) -> None:
    row = {"trial_id": trial, "status": "TERMINATED", **{f"config.{k}": v for k, v in config.items()}}
    if val is not None:
        row["val_accuracy"] = val
    doc = {
        "run": run,
        "run_name": f"sweep {HOSTILE}",
        "primary_metric": "accuracy",
        "trials": 9,
        "configurations_compared": 9,
        "trial_id": trial,
        "best_config": config,
        "trial_row": row,
    }
    (entry / "search.json").write_text(json.dumps(doc))


@pytest.fixture
def zoo(make_entry: Callable[..., Path]) -> Path:
    trials = [(0.1, "adam", 0.60), (0.01, "adam", 0.70), (0.001, "sgd", 0.80), (0.001, "adam", 0.78)]
    for i, (lr, opt, val) in enumerate(trials):
        path = make_entry("figshare-brain", f"m{i}", value=val, gmacs=1.0 + i, params=(4 - i) * 10**6)
        _search(path, trial=f"t{i:04d}", config={"lr": lr, "optimizer": opt, "seed": 0}, val=val)
    config = json.loads((path.parent.parent / "m0" / "r1" / "config.json").read_text())
    config["medzoo"]["library_name"] = "timm"  # m0 says timm alone loads it; the others say nothing
    (path.parent.parent / "m0" / "r1" / "config.json").write_text(json.dumps(config))
    other = make_entry("figshare-brain", "other", value=0.5, model_name=HOSTILE)
    _search(other, trial="t0000", config={"lr": 0.1}, val=None, run="/r/b")
    return make_entry.zoo  # type: ignore[attr-defined]


def test_sweeps_group_entries_by_run_and_explain_variance(zoo: Path) -> None:
    board = table("figshare-brain", zoo=zoo)
    sweeps = sweeps_of(board)
    assert sorted(len(s.trials) for s in sweeps) == [1, 4] and len({s.slug for s in sweeps}) == 2
    big = next(s for s in sweeps if len(s.trials) == 4)
    assert [t.trial_id for t, _ in big.trials] == ["t0000", "t0001", "t0002", "t0003"]
    assert big.varying == ["lr", "optimizer"]  # seed is the same everywhere
    shares = importance(big)
    # values .60 .70 .80 .78 (mean .72, total SS .0248); lr groups {.1: .6, .01: .7, .001: .8 .78}
    assert shares is not None and shares["lr"] == pytest.approx((0.0144 + 0.0004 + 2 * 0.0049) / 0.0248)
    assert shares["optimizer"] == pytest.approx((3 * (2.08 / 3 - 0.72) ** 2 + (0.8 - 0.72) ** 2) / 0.0248)
    small = next(s for s in sweeps if len(s.trials) == 1)
    assert importance(small) is None  # one trial, and no validation value: nothing to explain


def test_pareto_points_link_to_entries_and_names_stay_text(zoo: Path) -> None:
    board = table("figshare-brain", zoo=zoo)
    for x in ("gmacs", "params"):
        svg = pareto_svg(board, x=x, href=lambda r: f"{r.dataset}/{r.name}/index.html")
        root = ET.fromstring(svg)  # well-formed: every name escaped
        ns = "{http://www.w3.org/2000/svg}"
        links = {a.get("data-entry"): a.get("href") for a in root.iter(f"{ns}a")}
        assert links["figshare-brain/other"] == "figshare-brain/other/index.html" and len(links) == 5
        assert "<script>" not in svg
    # on the parameters axis the cheapest-by-params entry (m3) is on the front, drawn filled
    params = ET.fromstring(pareto_svg(board, x="params", href=lambda r: r.name))
    fills = {a.get("data-entry"): a.find(f"{ns}circle").get("fill") for a in params.iter(f"{ns}a")}
    assert fills["figshare-brain/m3"] != "#ffffff" and fills["figshare-brain/m0"] == "#ffffff"


def test_threshold_decisions_per_task(zoo: Path) -> None:
    row = table("figshare-brain", zoo=zoo).rows[0]
    result = {"probabilities": [("b", 0.7), ("a", 0.3)]}
    row.task, row.labels, row.threshold = "binary", ["a", "b"], None
    assert decide(result, row=row, threshold=0.8)["decision"] == "a"
    assert decide(result, row=row, threshold=None) == {"threshold": 0.5, "decision": "b", "task": "binary"}
    row.task = "multilabel"
    assert decide(result, row=row, threshold=0.25)["decision"] == "b, a"
    assert decide(result, row=row, threshold=0.9)["decision"] == "no finding"
    row.task = "multiclass"
    assert decide(result, row=row, threshold=None)["decision"] == "b"
    assert decide(result, row=row, threshold=0.75)["decision"].startswith("uncertain")


def test_site_and_server_serve_dataset_and_sweep_pages(zoo: Path, tmp_path: Path) -> None:
    site = build_site(zoo=zoo, out=tmp_path / "site")
    board = (site / "figshare-brain.html").read_text()
    assert 'href="figshare-brain/_dataset.html"' in board and "search.crossref.org" in board
    dataset = (site / "figshare-brain" / "_dataset.html").read_text()
    assert "glioma" in dataset and "meningioma" in dataset and "citation" in dataset
    pages = sorted((site / "figshare-brain" / "_sweeps").glob("*.html"))
    assert len(pages) == 2 and all(f'href="{p.relative_to(site).as_posix()}"' in board for p in pages)
    snippet = 'timm.create_model("local-dir:./figshare-brain-m0-r1", pretrained=True)'
    assert snippet in (site / "figshare-brain" / "m0" / "index.html").read_text()
    assert "timm.create_model" not in (site / "figshare-brain" / "m1" / "index.html").read_text()
    text = "".join(p.read_text() for p in pages)
    assert HOSTILE not in text and "&lt;script&gt;" in text and "eta squared" in text

    server = make_server(zoo=zoo, host="127.0.0.1", port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        for path, status in [
            ("/figshare-brain/_dataset.html", 200),
            (f"/figshare-brain/_sweeps/{pages[0].name}", 200),
            ("/figshare-brain/_sweeps/nope.html", 404),
            ("/figshare-brain/m0/try.html", 200),
        ]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read().decode()
            conn.close()
            assert resp.status == status, path
            if path.endswith("try.html"):  # the entry choice lists the board's entries; the slider is there
                assert 'value="../m3/try.html"' in body and 'id="threshold"' in body
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_odd_search_json_values_still_give_a_sweep_page(
    make_entry: Callable[..., Path], tmp_path: Path
) -> None:
    """NaN, lists and markup in a (hostile) search.json: the page renders, numbers it cannot plot are '-'."""
    for i, lr in enumerate([float("nan"), 0.1, 0.01]):
        path = make_entry("figshare-brain", f"odd{i}", value=0.5 + i / 10)
        config = {"lr": lr, "layers": [1, 2], f"<b>{HOSTILE}</b>": "x" if i else "y"}
        _search(path, trial=f"t{i}", config=config, val=0.5 + i / 10)
    site = build_site(zoo=make_entry.zoo, out=tmp_path / "site")  # type: ignore[attr-defined]
    strict = {"parse_constant": lambda c: pytest.fail(f"{c} in figshare-brain.json")}  # no NaN written
    board = json.loads((site / "figshare-brain.json").read_text(), **strict)
    assert all(
        r["sweep"]["config"].get("lr", 0) is None or r["sweep"]["config"]["lr"] > 0 for r in board["rows"]
    )
    (page,) = (site / "figshare-brain" / "_sweeps").glob("*.html")
    text = page.read_text()
    assert HOSTILE not in text and "layers" not in text and "<polyline" in text


def test_feature_maps_hook_keeps_the_first_forward_and_grids_tokens_too() -> None:
    import torch

    from medzoo.leaderboards.features import capture, feature_maps, grid_shape

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3), torch.nn.ReLU(), torch.nn.Flatten())
    first, second = torch.rand(1, 3, 12, 12), torch.rand(1, 3, 12, 12)
    with torch.no_grad(), capture(model, "0") as captured:
        model(first)
        model(second)  # a later pass (Grad-CAM's) does not replace the prediction's activations
    assert not model[0]._forward_hooks  # the hook is removed afterwards
    expected = model[0](first).detach()  # continuous values: no ties in the ranking
    assert torch.equal(captured.output, expected)
    maps = feature_maps(captured.output, layer="0")
    assert (
        maps is not None
        and [c for c, _ in maps.channels] == expected[0].mean((1, 2)).argsort(descending=True).tolist()
    )
    tokens = feature_maps(torch.rand(1, 1 + 16, 10), layer="blocks.0", reshape="vit")  # class token + 4x4
    assert tokens is not None and len(tokens.channels) == 8
    assert feature_maps(None, layer="x") is None and feature_maps(torch.rand(1, 7), layer="head") is None
    assert grid_shape(8) == (196, 396) and grid_shape(5) == (196, 396) and grid_shape(3) == (96, 296)
