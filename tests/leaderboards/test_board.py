"""Board content from a small hand-made zoo: ranking, ties, reference rows kept apart, Pareto front."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from medzoo.errors import UnknownNameError
from medzoo.leaderboards import table, to_markdown
from medzoo.leaderboards.terminal import render_terminal

KAGGLE = {
    "kaggle-brain-mri": {
        "metrics": {"accuracy": {"value": 0.81, "ci_low": 0.76, "ci_high": 0.86}},
        "n": 200,
        "removed_duplicates": 12,
    }
}


@pytest.fixture
def brain_zoo(make_entry: Callable[..., Path]) -> Path:
    make_entry("figshare-brain", "effnet-b2", value=0.93, ci=(0.91, 0.95), gmacs=1.0)
    make_entry("figshare-brain", "effnet-b0", value=0.90, ci=(0.85, 0.94), gmacs=0.4, cross_dataset=KAGGLE)
    make_entry("figshare-brain", "vgg16", value=0.80, ci=(0.70, 0.83), gmacs=15.0)
    make_entry("figshare-brain", "resnet", value=0.86, ci=(0.82, 0.88), gmacs=4.0)
    # a newer revision replaces the old one on the board
    make_entry("figshare-brain", "resnet", value=0.87, ci=(0.84, 0.90), gmacs=4.0, revision="r2")
    make_entry("figshare-brain", "real-b0", value=0.71, ci=(0.65, 0.77), gmacs=0.4, data_kind="real")
    make_entry("all-leukemia", "other-dataset", value=0.99)
    return make_entry.zoo  # type: ignore[attr-defined]


def test_rows_are_ranked_with_interval_ties_per_data_kind(brain_zoo: Path) -> None:
    board = table("figshare-brain", zoo=brain_zoo)
    assert board.primary_metric == "accuracy" and board.higher_is_better
    assert board.data_kinds == ["real", "phantom"] and board.data_kind == "mixed"
    assert [(r.name, r.rank) for r in board.rows_of("real")] == [("real-b0", "1")]
    # b2 [.91,.95] leads; b0 [.85,.94] overlaps it; resnet@r2 [.84,.90] overlaps b0 but not b2 -> no chaining
    assert [(r.name, r.rank) for r in board.rows_of("phantom")] == [
        ("effnet-b2", "=1"),
        ("effnet-b0", "=1"),
        ("resnet", "3"),
        ("vgg16", "4"),
    ]
    resnet = next(r for r in board.rows if r.name == "resnet")
    assert resnet.revision == "r2" and resnet.primary.value == pytest.approx(0.87)
    assert all(r.dataset == "figshare-brain" for r in board.rows)


def test_pareto_front_is_accuracy_versus_gmacs_within_a_data_kind(brain_zoo: Path) -> None:
    board = table("figshare-brain", zoo=brain_zoo)
    front = {r.name for r in board.rows if r.pareto}
    # b2 is the most accurate, b0 the cheapest; resnet and vgg16 are dominated by b2; the only real row is alone
    assert front == {"effnet-b2", "effnet-b0", "real-b0"}


def test_reference_rows_carry_their_protocol_and_never_enter_the_ranking(brain_zoo: Path) -> None:
    board = table("figshare-brain", zoo=brain_zoo)
    assert board.reference, "paper-reported numbers for figshare-brain must be attached"
    assert all(r.label == "paper-reported" and "leaks patients" in r.protocol for r in board.reference)
    b2_paper = next(r for r in board.reference if r.architecture == "efficientnet_b2")
    assert b2_paper.metrics["accuracy"] == pytest.approx(0.9935)
    assert b2_paper.cross_dataset == {"kaggle-brain-mri": pytest.approx(0.9251)}
    # a paper's 0.99 would top every medzoo row if it were mixed in: the ranking holds medzoo entries only
    assert {r.name for r in board.rows} == {"effnet-b2", "effnet-b0", "vgg16", "resnet", "real-b0"}
    assert board.rows_of("phantom")[0].name == "effnet-b2"


def test_cross_dataset_column_for_figshare_brain(brain_zoo: Path) -> None:
    board = table("figshare-brain", zoo=brain_zoo)
    assert board.cross_datasets == ["kaggle-brain-mri"]
    b0 = next(r for r in board.rows if r.name == "effnet-b0")
    assert b0.cross_dataset["kaggle-brain-mri"].value == pytest.approx(0.81)
    assert next(r for r in board.rows if r.name == "vgg16").cross_dataset == {}
    assert table("all-leukemia", zoo=brain_zoo).cross_datasets == []


def test_sorting_by_cost_and_unknown_sort_keys(brain_zoo: Path) -> None:
    board = table("figshare-brain", zoo=brain_zoo, sort="gmacs")
    assert not board.higher_is_better
    assert [r.name for r in board.rows_of("phantom")] == ["effnet-b0", "effnet-b2", "resnet", "vgg16"]
    with pytest.raises(UnknownNameError, match="did you mean gmacs"):
        table("figshare-brain", zoo=brain_zoo, sort="gmac")


def test_a_card_that_disagrees_with_metrics_json_is_reported_not_ranked(
    make_entry: Callable[..., Path],
) -> None:
    make_entry("cbis-ddsm-mass", "good", value=0.8)
    make_entry("cbis-ddsm-mass", "tampered", value=0.6, card_value=0.95)
    board = table("cbis-ddsm-mass", zoo=make_entry.zoo)  # type: ignore[attr-defined]
    assert [r.name for r in board.rows] == ["good"]
    assert len(board.problems) == 1
    assert (
        "tampered" in board.problems[0]
        and "README.md" in board.problems[0]
        and "metrics.json" in board.problems[0]
    )


def test_an_empty_zoo_still_gives_the_paper_reported_rows(tmp_path: Path) -> None:
    board = table("chestxray14", zoo=tmp_path / "no-zoo")
    assert board.rows == [] and board.data_kind == "none"
    assert board.primary_metric == "mean_auroc"  # the dataset's own, even before any entry exists
    assert board.reference and all(r.label == "paper-reported" for r in board.reference)
    with pytest.raises(UnknownNameError, match="chestxray14"):
        table("chestxray41", zoo=tmp_path / "no-zoo")


def test_json_markdown_and_terminal_views(brain_zoo: Path) -> None:
    from rich.console import Console

    board = table("figshare-brain", zoo=brain_zoo)
    doc = json.loads(json.dumps(board.to_dict()))
    assert doc["data_kind"] == "mixed" and doc["rows"][0]["name"] == "real-b0" and "tie_rule" in doc
    md = to_markdown(board)
    assert "PHANTOM DATA" in md and "## Paper-reported" in md and "| =1 |" in md
    console = Console(record=True, width=400)
    render_terminal(board, console)
    text = console.export_text()
    assert "PHANTOM" in text and "=1" in text and "Paper-reported" in text and "kaggle-brain-mri" in text


def test_hostile_model_names_are_escaped_in_markdown_and_literal_in_the_terminal(
    make_entry: Callable[..., Path],
) -> None:
    from rich.console import Console

    hostile = "<script>alert(1)</script> | [red]x[/red]"
    make_entry("brats19-grade", "hostile", value=0.8, model_name=hostile)
    board = table("brats19-grade", zoo=make_entry.zoo)  # type: ignore[attr-defined]
    assert board.rows[0].model == hostile
    md = to_markdown(board)
    assert "<script>" not in md and "&lt;script&gt;" in md
    row_line = next(line for line in md.splitlines() if "hostile" in line)
    assert row_line.count(" | ") == md.splitlines()[
        [i for i, line in enumerate(md.splitlines()) if line.startswith("| rank")][0]
    ].count(" | ")
    console = Console(record=True, width=400)
    render_terminal(board, console)
    assert "[red]x[/red]" in console.export_text()


def test_unreadable_entries_are_listed_with_their_file(make_entry: Callable[..., Path]) -> None:
    make_entry("brats19-grade", "fine", value=0.8)
    broken = make_entry("brats19-grade", "no-metrics", value=0.8)
    (broken / "metrics.json").write_text('{"primary_metric": "auc", "n": 3}')
    inverted = make_entry("brats19-grade", "inverted-ci", value=0.8, ci=(0.85, 0.9))
    board = table("brats19-grade", zoo=make_entry.zoo)  # type: ignore[attr-defined]
    assert [r.name for r in board.rows] == ["fine"]
    problems = "\n".join(board.problems)
    # the record of medzoo.formats.entry names the file and the field
    assert f"{broken / 'metrics.json'}: the required field 'metrics' is missing" in problems
    assert f"{inverted / 'metrics.json'}" in problems and "ci_low <= value <= ci_high must hold" in problems
