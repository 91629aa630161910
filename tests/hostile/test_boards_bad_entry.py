"""Issue 11, class 5 (one bad entry takes everything down), for the boards.

Each case below corrupts one entry of one zoo in its own way (generated here);
beside them sits one good entry. ``leaderboard show``, ``leaderboard build`` and
every page of the real server (``/`` included) must keep working, rank the good
entry, and list every bad one under problems with the file that is wrong.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from boards_zoo import Client, crawl, served, write_entry

from medzoo.cli import main

DATASET = "figshare-brain"


def _json_edit(file: str, edit: Callable[[dict], object]) -> Callable[[Path], None]:
    def apply(entry: Path) -> None:
        doc = json.loads((entry / file).read_text())
        result = edit(doc)
        (entry / file).write_text(json.dumps(doc if result is None else result))

    return apply


def _write(file: str, data: bytes) -> Callable[[Path], None]:
    return lambda entry: (entry / file).write_bytes(data)


def _truncate(file: str) -> Callable[[Path], None]:
    return lambda entry: (entry / file).write_bytes((entry / file).read_bytes()[:40])


def _remove(file: str) -> Callable[[Path], None]:
    return lambda entry: (entry / file).unlink()


def _config_medzoo(key: str, value: object) -> Callable[[Path], None]:
    return _json_edit("config.json", lambda d: d["medzoo"].__setitem__(key, value))


#: case name -> (corruption, the file its problem line must name)
CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "metrics-truncated": (_truncate("metrics.json"), "metrics.json"),
    "metrics-not-utf8": (_write("metrics.json", b'{"primary_metric": "\xff\xfe"}'), "metrics.json"),
    "metrics-empty": (_write("metrics.json", b""), "metrics.json"),
    "metrics-array": (_write("metrics.json", b"[1, 2]"), "metrics.json"),
    "metrics-missing": (_remove("metrics.json"), "metrics.json"),
    "metrics-nan": (
        _write("metrics.json", b'{"primary_metric": "accuracy", "metrics": {"accuracy": NaN}}'),
        "metrics.json",
    ),
    "metrics-string-value": (
        _json_edit("metrics.json", lambda d: d["metrics"]["accuracy"].__setitem__("value", "high")),
        "metrics.json",
    ),
    "metrics-newer-version": (
        _json_edit("metrics.json", lambda d: d.__setitem__("format_version", 99)),
        "metrics.json",
    ),
    "metrics-inverted-ci": (
        _json_edit("metrics.json", lambda d: d["metrics"]["accuracy"].__setitem__("ci_low", 0.99)),
        "metrics.json",
    ),
    "metrics-primary-unknown": (
        _json_edit("metrics.json", lambda d: d.__setitem__("primary_metric", "auc")),
        "metrics.json",
    ),
    "config-hf-hub": (
        _json_edit("config.json", lambda d: d.__setitem__("architecture", "hf-hub:evil/x")),
        "config.json",
    ),
    "config-local-dir": (
        _json_edit("config.json", lambda d: d.__setitem__("architecture", "local-dir:/etc")),
        "config.json",
    ),
    "config-std-zero": (
        _json_edit("config.json", lambda d: d["pretrained_cfg"].__setitem__("std", [0])),
        "config.json",
    ),
    "config-no-medzoo": (_json_edit("config.json", lambda d: d.pop("medzoo")), "config.json"),
    "config-bad-data-kind": (_config_medzoo("data_kind", 3), "config.json"),
    "config-not-utf8": (_write("config.json", b"\xc3\x28{}"), "config.json"),
    "card-missing": (_remove("README.md"), "README.md"),
    "card-bad-yaml": (_write("README.md", b"---\nmodel_name: [unclosed\n---\nbody\n"), "README.md"),
    "card-yaml-list": (_write("README.md", b"---\n- a\n- b\n---\nbody\n"), "README.md"),
    "card-not-utf8": (_write("README.md", b"---\nmodel_name: x\n---\n\xff\xfe\n"), "README.md"),
    "card-disagrees": (
        _write(
            "README.md",
            b"---\nmodel-index:\n- name: x\n  results:\n  - task: {type: image-classification}\n"
            b"    dataset: {name: d, type: d}\n    metrics:\n    - {type: accuracy, value: 0.01}\n---\nx\n",
        ),
        "README.md",
    ),
    "search-truncated": (_write("search.json", b'{"run": '), "search.json"),
    "refs-corrupt": (lambda e: (e.parent / "refs.json").write_bytes(b"{nope"), "refs.json"),
    "refs-latest-missing": (
        lambda e: (e.parent / "refs.json").write_text('{"latest": "r9", "revisions": ["r1", "r9"]}'),
        "r9",
    ),
    "refs-path-revision": (
        lambda e: (e.parent / "refs.json").write_text('{"latest": "../x", "revisions": ["../x"]}'),
        "refs.json",
    ),
    "metrics-is-a-folder": (
        lambda e: ((e / "metrics.json").unlink(), (e / "metrics.json").mkdir()),
        "metrics.json",
    ),
}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    zoo = tmp_path_factory.mktemp("bad-entries") / "zoo"
    write_entry(zoo, DATASET, "good", value=0.9)
    for name, (corrupt, _) in CASES.items():
        corrupt(write_entry(zoo, DATASET, name, value=0.7))
    return zoo


@pytest.fixture(scope="module")
def client(zoo: Path) -> Iterator[Client]:
    with served(zoo) as server:
        yield Client(server.server_address[1])


def _problem_lines(problems: list[str]) -> dict[str, str]:
    return {name: next((p for p in problems if p.startswith(f"{DATASET}/{name}:")), "") for name in CASES}


def test_the_board_ranks_the_good_entry_and_names_each_bad_file(zoo: Path) -> None:
    from medzoo.leaderboards import table

    board = table(DATASET, zoo=zoo)
    assert [r.name for r in board.rows] == ["good"]
    lines = _problem_lines(board.problems)
    for name, (_, file) in CASES.items():
        assert file in lines[name], f"{name}: {lines[name] or 'not listed'}"
        assert "Traceback" not in lines[name]


def test_show_prints_the_board_and_the_problems(zoo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["leaderboard", "show", DATASET, "--zoo", str(zoo)])
    out, err = capsys.readouterr()
    assert exit_.value.code in (0, None) and "good" in out and "Traceback" not in out + err
    assert out.count("skipped:") >= len(CASES)


def test_build_writes_every_page_and_lists_the_problems(zoo: Path, tmp_path: Path) -> None:
    from medzoo.leaderboards import build_site

    site = build_site(zoo=zoo, out=tmp_path / "site")
    board = (site / f"{DATASET}.html").read_text()
    index = (site / "index.html").read_text()
    assert (site / DATASET / "good" / "index.html").is_file()
    for name in CASES:
        assert not (site / DATASET / name).exists(), name
        assert f"{DATASET}/{name}:" in board and f"{DATASET}/{name}:" in index, name


def test_every_served_page_works_and_lists_the_problems(client: Client) -> None:
    pages = crawl(client)
    assert {"/", f"/{DATASET}.html", f"/{DATASET}/good/index.html"} <= set(pages)
    assert all(status == 200 for status, _ in pages.values()), {
        p: s for p, (s, _) in pages.items() if s != 200
    }
    for path in ("/", f"/{DATASET}.html"):
        body = pages[path][1].decode()
        assert all(f"{DATASET}/{name}:" in body for name in CASES), path
    for name in CASES:
        assert client.get(f"/{DATASET}/{name}/")[0] == 404
    status, _, doc = client.get(f"/{DATASET}.json")
    assert status == 200 and len(json.loads(doc)["problems"]) >= len(CASES)


def test_a_zoo_that_cannot_be_listed_still_serves_the_index(tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    write_entry(zoo, DATASET, "good")
    shutil.copytree(zoo / DATASET, zoo / "not-registered-yet")
    (zoo / "stray-file").write_text("x")
    with served(zoo) as server:
        client = Client(server.server_address[1])
        status, _, body = client.get("/")
        assert status == 200 and b"not-registered-yet.html" in body
        assert client.get("/not-registered-yet.html")[0] == 200
