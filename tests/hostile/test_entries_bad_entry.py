"""Issue 11 class 5 for the zoo store: one bad entry never takes the others down.

A zoo holds good entries and one broken entry per case below; ``list`` returns the good ones in
``entries`` and each broken one in ``problems`` with a reason naming its file, ``medzoo zoo list``
prints both and exits 0, and the good entries still resolve and load."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from entries_zoo import run_cli, write_entry

from medzoo.zoo.entries import store


def _rewrite_json(rel: str, change) -> Callable[[Path], None]:
    def breaker(path: Path) -> None:
        target = path / rel
        data = json.loads(target.read_text())
        change(data)
        target.write_text(json.dumps(data))

    return breaker


def _bytes(rel: str, data: bytes | None) -> Callable[[Path], None]:
    def breaker(path: Path) -> None:
        target = path / rel
        target.write_bytes(target.read_bytes()[:20] if data is None else data)

    return breaker


#: (case id, how the entry revision is broken, text the problem's reason must contain)
CASES = [
    ("metrics-truncated", _bytes("metrics.json", None), "metrics.json"),
    ("metrics-not-utf8", _bytes("metrics.json", b'{"n": "\xff"}'), "UTF-8"),
    ("metrics-a-list", _bytes("metrics.json", b"[]"), "metrics.json"),
    (
        "metrics-value-string",
        _rewrite_json("metrics.json", lambda d: d["metrics"]["accuracy"].update(value="x")),
        "value",
    ),
    (
        "metrics-primary-unknown",
        _rewrite_json("metrics.json", lambda d: d.update(primary_metric="auc")),
        "primary_metric",
    ),
    (
        "metrics-newer",
        _rewrite_json("metrics.json", lambda d: d.update(format_version=42)),
        "format_version 42",
    ),
    (
        "metrics-nan",
        _bytes("metrics.json", b'{"primary_metric": "a", "metrics": {"a": {"value": NaN}}}'),
        "JSON",
    ),
    ("config-missing-field", _rewrite_json("config.json", lambda d: d.pop("label_names")), "label_names"),
    ("config-truncated", _bytes("config.json", None), "config.json"),
    ("config-missing", lambda p: (p / "config.json").unlink(), "config.json"),
    ("refs-corrupt", lambda p: (p.parent / "refs.json").write_text("{not json"), "refs.json"),
    (
        "refs-wrong-latest",
        lambda p: (p.parent / "refs.json").write_text('{"latest": "r9", "revisions": ["r1"]}'),
        "latest",
    ),
]


@pytest.mark.parametrize("case, breaker, needle", CASES, ids=[c[0] for c in CASES])
def test_a_broken_entry_is_a_problem_and_the_rest_keeps_working(
    tmp_path, capsys, monkeypatch, case, breaker, needle
):
    monkeypatch.setenv("COLUMNS", "400")
    zoo = tmp_path / "zoo"
    write_entry(zoo, name="a-good")
    bad = write_entry(zoo, name="b-bad")
    write_entry(zoo, name="c-good", dataset="all-leukemia")
    breaker(bad)
    listing = store.list(zoo=zoo)
    assert [e.id for e in listing] == ["all-leukemia/c-good@r1", "figshare-brain/a-good@r1"]
    assert len(listing.problems) == 1 and listing.problems[0].id.startswith("figshare-brain/b-bad")
    assert needle in listing.problems[0].reason
    code, out, err = run_cli(["zoo", "list", "--zoo", str(zoo)], capsys)
    assert code == 0 and "Traceback" not in err
    assert "figshare-brain/a-good@r1" in out and "all-leukemia/c-good@r1" in out
    assert "problem: figshare-brain/b-bad" in out and needle in out
    code, out, err = run_cli(["zoo", "list", "--zoo", str(zoo), "--json"], capsys)
    assert code == 0 and len(json.loads(out)) == 2 and "problem: figshare-brain/b-bad" in err
    model, _, labels = store.load("figshare-brain/a-good", zoo=zoo)
    assert labels == ["glioma", "meningioma", "pituitary"]
