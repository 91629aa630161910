"""Cross-validation and leak columns on the board (terminal, Markdown, HTML), beside the held-out test result."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from medzoo.formats.run import CrossvalResult, FoldResult, LeakGap, ProtocolResult
from medzoo.leaderboards import table, to_markdown
from medzoo.leaderboards.render import Pages
from medzoo.leaderboards.terminal import render_terminal


def crossval_record(*, leak: bool = True) -> CrossvalResult:
    """A hand-written crossval.json: 3 patient-level and 3 image-level folds, and the gap between them."""

    def protocol(name: str, values: tuple[float, ...]) -> ProtocolResult:
        folds = tuple(
            FoldResult(fold=k, value=v, n_test=40, n_patients=8, epochs=5) for k, v in enumerate(values)
        )
        mean = sum(values) / len(values)
        sd = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
        return ProtocolResult(protocol=name, folds=folds, mean=mean, sd=sd)

    return CrossvalResult(
        trial_id="t0000",
        metric="accuracy",
        k=3,
        protocols=(protocol("patient", (0.70, 0.74, 0.78)), protocol("image", (0.86, 0.88, 0.90))),
        leak=LeakGap(metric="accuracy", difference=0.14, ci_low=0.10, ci_high=0.18) if leak else None,
    )


def add_crossval(entry: Path, record: CrossvalResult) -> None:
    """Put ``record`` into an entry's metrics.json, as publish does from the run's crossval.json."""
    path = entry / "metrics.json"
    doc = json.loads(path.read_text())
    doc["crossval"] = record.to_dict()
    path.write_text(json.dumps(doc))


def test_cv_and_leak_columns_in_every_view(make_entry: Callable[..., Path]) -> None:
    from rich.console import Console

    with_cv = make_entry("figshare-brain", "with-cv", value=0.8, model_name="<b>cv</b> & co")
    add_crossval(with_cv, crossval_record())
    make_entry("figshare-brain", "without-cv", value=0.7)
    board = table("figshare-brain", zoo=make_entry.zoo)  # type: ignore[attr-defined]
    assert not board.problems and board.has_crossval and board.has_leak
    rows = {r.name: r for r in board.rows}
    assert rows["with-cv"].crossval_text() == "0.740 ± 0.040 (3-fold)"
    assert rows["with-cv"].leak_text() == "+0.140 [+0.100, +0.180]"
    assert rows["without-cv"].crossval_text() == "-" and rows["without-cv"].leak_text() == "-"

    md = to_markdown(board)
    header = next(line for line in md.splitlines() if line.startswith("| rank"))
    cells = [c.strip() for c in header.strip("|").split(" | ")]
    assert cells[3:6] == ["accuracy \\[95% CI\\]", "CV mean ± SD", "leak: image − patient \\[95% CI\\]"]
    line = next(line for line in md.splitlines() if "with-cv" in line)
    assert "0.740 ± 0.040 (3-fold)" in line and "+0.140 \\[+0.100, +0.180\\]" in line

    console = Console(record=True, width=400)
    render_terminal(board, console)
    text = console.export_text()
    assert "CV mean ± SD" in text and "0.740 ± 0.040 (3-fold)" in text and "+0.140 [+0.100, +0.180]" in text

    html = Pages(live=False).board(board)
    assert "<b>cv</b>" not in html and "&lt;b&gt;cv&lt;/b&gt; &amp; co" in html
    assert ">CV mean ± SD</th>" in html and "0.740 ± 0.040 (3-fold)</td>" in html
    assert "+0.140 [+0.100, +0.180]</td>" in html
    assert board.to_dict()["rows"][0]["crossval"]["protocol"] == "patient"


def test_columns_absent_without_crossval_and_image_only_is_labelled(make_entry: Callable[..., Path]) -> None:
    plain = make_entry("figshare-brain", "plain", value=0.8)
    board = table("figshare-brain", zoo=make_entry.zoo)  # type: ignore[attr-defined]
    assert not board.has_crossval and "CV mean" not in to_markdown(board)
    assert "CV mean" not in Pages(live=False).board(board)

    record = crossval_record(leak=False)
    image_only = CrossvalResult(
        trial_id=record.trial_id, metric=record.metric, k=record.k, protocols=record.protocols[1:]
    )
    add_crossval(plain, image_only)
    board = table("figshare-brain", zoo=make_entry.zoo)  # type: ignore[attr-defined]
    assert board.has_crossval and not board.has_leak
    assert board.rows[0].crossval_text() == "0.880 ± 0.020 (3-fold, image-level folds)"
    assert "leak" not in to_markdown(board).split("## Paper-reported")[0]
