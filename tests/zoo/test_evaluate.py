"""``medzoo evaluate``: a figshare-brain entry on the kaggle-brain-mri phantom, de-duplicated, as a new revision."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from medzoo.errors import ZooError
from medzoo.zoo.entries import store
from medzoo.zoo.entries.evaluate import duplicates, evaluate_entry

ENTRY = "figshare-brain/tiny_cnn"


@pytest.fixture(scope="module")
def evaluated(tiny_zoo: Path, prepared_phantom, tmp_path_factory) -> tuple[Path, str, Path]:
    """(zoo copy, new revision id, kaggle prepared set) after one evaluate_entry call."""
    zoo = tmp_path_factory.mktemp("eval-zoo") / "zoo"
    shutil.copytree(tiny_zoo, zoo)
    kaggle = prepared_phantom("kaggle-brain-mri")
    new = evaluate_entry(entry=ENTRY, prepared=kaggle, zoo=zoo)
    return zoo, new, kaggle


def test_evaluate_writes_a_new_revision_with_the_cross_dataset_block(evaluated, tiny_zoo, tiny_run) -> None:
    from medzoo import datasets

    zoo, new, kaggle = evaluated
    assert new == f"{ENTRY}@r2"
    r1, r2 = (store.resolve_entry(f"{ENTRY}@{r}", zoo=zoo).path for r in ("r1", "r2"))
    original = store.resolve_entry(ENTRY + "@r1", zoo=tiny_zoo).path
    assert {p.relative_to(r1): p.read_bytes() for p in r1.rglob("*") if p.is_file()} == {
        p.relative_to(original): p.read_bytes() for p in original.rglob("*") if p.is_file()
    }
    assert (r2 / "model.safetensors").read_bytes() == (r1 / "model.safetensors").read_bytes()
    assert store.read_config(r2).medzoo.revision == "r2"

    metrics = store.read_metrics(r2)
    block = metrics.cross_dataset["kaggle-brain-mri"]
    test = datasets.read_manifest(kaggle)
    test = test[test["split"] == "test"].reset_index(drop=True)
    assert block.split == "test" and block.dataset == "kaggle-brain-mri"
    assert (
        block.removed_duplicates > 0
    )  # the phantom re-releases figshare phantom slices, as the 7023 set does
    assert block.n + block.removed_duplicates == len(test)
    acc = block.metrics["accuracy"]
    assert acc.ci_low <= acc.value <= acc.ci_high and block.primary_metric == "accuracy"
    assert list(block.per_class) == ["meningioma", "glioma", "pituitary"]
    assert metrics.metrics == store.read_metrics(r1).metrics  # the entry's own test results are unchanged

    # the same accuracy by hand: the entry's model on the kept test images
    keep = ~duplicates(kaggle, test, Path(json.loads((tiny_run / "run.json").read_text())["prepared"]))
    model, _, labels = store.load(new, zoo=zoo)
    cfg = store.read_config(r2)
    ds = datasets.open(kaggle, split="test", image_size=64, mean=cfg.mean, std=cfg.std, augment=None)
    with torch.no_grad():
        preds = [int(model(ds[int(i)]["image"][None]).argmax()) for i in np.flatnonzero(keep)]
    truth = [labels.index(ds.classes[int(t)]) for t in ds.targets[keep]]
    assert acc.value == pytest.approx(np.mean(np.array(preds) == np.array(truth)))

    card = (r2 / "README.md").read_text()
    assert "### Cross-dataset" in card and "kaggle-brain-mri" in card and f"{acc.value:.4f}" in card


def test_the_board_shows_the_cross_dataset_column(evaluated) -> None:
    from medzoo.leaderboards import table

    zoo, _, _ = evaluated
    board = table("figshare-brain", zoo=zoo)
    row = next(r for r in board.rows if r.entry_id == ENTRY)
    assert board.cross_datasets == ["kaggle-brain-mri"] and row.revision == "r2"
    assert "kaggle-brain-mri" in row.cross_dataset and not board.problems


def test_cli_prints_the_result_and_errors_are_one_line(evaluated, prepared_phantom, tmp_path, capsys) -> None:
    from medzoo.cli import main

    zoo, _, kaggle = evaluated
    with pytest.raises(SystemExit) as done:
        main(["evaluate", ENTRY, str(kaggle), "--zoo", str(zoo)])
    assert done.value.code in (0, None)
    out = capsys.readouterr().out
    assert f"published {ENTRY}@r3" in out and "kaggle-brain-mri: accuracy" in out and "duplicates" in out

    figshare = prepared_phantom("figshare-brain")
    with pytest.raises(SystemExit) as failed:
        main(["evaluate", ENTRY, str(figshare), "--zoo", str(zoo)])
    err = capsys.readouterr().err
    assert failed.value.code == 2 and err.startswith("error: ") and "another dataset" in err
    assert "Traceback" not in err


def test_class_names_must_be_equal(evaluated, tmp_path) -> None:
    from medzoo.formats.prepared import read_info, replace_fields, write_info

    zoo, _, kaggle = evaluated
    other = tmp_path / "other"
    shutil.copytree(kaggle, other)
    write_info(replace_fields(read_info(other), classes=["meningioma", "glioma", "other"]), other)
    with pytest.raises(ZooError) as err:
        evaluate_entry(entry=ENTRY, prepared=other, zoo=zoo)
    msg = err.value.message
    assert "['meningioma', 'glioma', 'other']" in msg and "['meningioma', 'glioma', 'pituitary']" in msg


def test_an_entry_whose_run_is_gone_needs_train_prepared(evaluated, prepared_phantom, tmp_path) -> None:
    zoo, _, kaggle = evaluated
    local = tmp_path / "zoo"
    shutil.copytree(zoo, local)
    folder = store.resolve_entry(ENTRY, zoo=local).path
    cfg = store.read_config(folder)
    replace(cfg, medzoo=replace(cfg.medzoo, run=str(tmp_path / "gone"))).write(folder)
    with pytest.raises(ZooError) as err:
        evaluate_entry(entry=ENTRY, prepared=kaggle, zoo=local)
    assert "--train-prepared" in err.value.fix and "gone" in err.value.message
    with pytest.raises(ZooError, match="is kaggle-brain-mri, but"):
        evaluate_entry(entry=ENTRY, prepared=kaggle, zoo=local, train_prepared=kaggle)
    new = evaluate_entry(
        entry=ENTRY, prepared=kaggle, zoo=local, train_prepared=prepared_phantom("figshare-brain")
    )
    first = store.read_metrics(folder).cross_dataset["kaggle-brain-mri"]
    again = store.read_metrics(store.resolve_entry(new, zoo=local).location).cross_dataset["kaggle-brain-mri"]
    assert again == first  # same model, same images, same seed: the same result


def test_a_set_already_deduplicated_reports_the_same_removals(evaluated, prepared_phantom, tmp_path) -> None:
    """``dedup_against`` run on the prepared set beforehand: its removals still count, the result is the same."""
    from medzoo import datasets

    zoo, new, kaggle = evaluated
    copy = tmp_path / "kaggle"
    shutil.copytree(kaggle, copy)
    report = datasets.dedup_against(copy, prepared_phantom("figshare-brain"))
    assert report["removed"] > 0
    local = tmp_path / "zoo"
    shutil.copytree(zoo, local)
    again = evaluate_entry(entry=f"{ENTRY}@r1", prepared=copy, zoo=local)
    block = store.read_metrics(store.resolve_entry(again, zoo=local).location).cross_dataset[
        "kaggle-brain-mri"
    ]
    first = store.read_metrics(store.resolve_entry(new, zoo=zoo).location).cross_dataset["kaggle-brain-mri"]
    assert (
        (block.n, block.removed_duplicates)
        == (first.n, first.removed_duplicates)
        == (
            first.n,
            report["removed"],
        )
    )
    assert block.metrics == first.metrics
