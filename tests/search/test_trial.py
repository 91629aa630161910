"""The trial as plain functions, without Ray: outputs, early stopping, resume, bad data, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from medzoo.errors import TrialError
from medzoo.search import TrialConfig, train_trial
from medzoo.search.checkpoint import OUTPUT_FILES, RESUME_FILES

LIMIT = {"train": 48, "val": 24, "test": 24}
BASE = TrialConfig(family="tiny_cnn", image_size=32, epochs=3, batch_size=16, augment="none", lr=3e-3)


@pytest.fixture(scope="module")
def brain(prepared_phantom) -> Path:
    torch.set_num_threads(1)
    return prepared_phantom("figshare-brain")


def _capture(store: list[Path], root: Path):
    def report(metrics: dict, folder: Path) -> None:
        dest = root / f"epoch{metrics['epoch']}"
        shutil.copytree(folder, dest)
        (dest / "metrics.json").write_text(json.dumps(metrics))
        store.append(dest)

    return report


def test_trial_writes_the_runs_contract_folder_and_resumes_exactly(brain: Path, tmp_path: Path) -> None:
    seen: list[Path] = []
    full = train_trial(
        BASE, prepared=brain, out_dir=tmp_path / "full", limit=LIMIT, report=_capture(seen, tmp_path / "ckpt")
    )
    out = tmp_path / "full"
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    trial = json.loads((out / "trial.json").read_text())
    assert trial["dataset"] == "figshare-brain" and trial["num_classes"] == 3 and trial["image_size"] == 32
    assert trial["family"] == "tiny_cnn" and "model_args" in trial and len(trial["mean"]) == 3
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert {"train_loss", "val_loss", "val_accuracy", "val_macro_f1", "lr", "epoch_s"} <= set(history[0])
    complexity = json.loads((out / "complexity.json").read_text())
    assert complexity["params"] > 0 and complexity["gmacs"] > 0
    assert full["params"] == complexity["params"] and full["epochs"] == 3
    assert 0 <= full["val_metric"] <= 1 and full["val_metric"] == full["val_accuracy"]
    # every epoch's checkpoint is complete and resumable
    assert len(seen) == 3 and all(all((p / f).exists() for f in RESUME_FILES) for p in seen)

    # resume after epoch 1 (a crash) and finish: the same weights and history as the uninterrupted run
    resumed = train_trial(
        BASE, prepared=brain, out_dir=tmp_path / "resumed", limit=LIMIT, resume_from=seen[0]
    )
    again = json.loads((tmp_path / "resumed" / "history.json").read_text())
    assert [h["epoch"] for h in again] == [1, 2, 3]
    assert json.loads((tmp_path / "resumed" / "trial.json").read_text())["resumed_at_epochs"] == [1]
    for a, b in zip(history, again, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
    w1, w2 = (
        load_file(str(out / "model.safetensors")),
        load_file(str(tmp_path / "resumed" / "model.safetensors")),
    )
    assert all(torch.allclose(w1[k].float(), w2[k].float(), atol=1e-5) for k in w1)
    assert resumed["val_metric"] == pytest.approx(full["val_metric"])


def test_early_stopping_stops_after_patience_and_restores_the_best_weights(
    brain: Path, tmp_path: Path
) -> None:
    seen: list[Path] = []
    cfg = BASE.replace(epochs=8, early_stop_patience=1, early_stop_metric="val_loss", optimizer="sgd", lr=0.5)
    train_trial(
        cfg, prepared=brain, out_dir=tmp_path / "t", limit=LIMIT, report=_capture(seen, tmp_path / "c")
    )
    history = json.loads((tmp_path / "t" / "history.json").read_text())
    val = json.loads((tmp_path / "t" / "val_metrics.json").read_text())
    losses = [h["val_loss"] for h in history]
    best = min(range(len(losses)), key=losses.__getitem__) + 1
    assert val["epoch"] == best
    assert len(history) == min(8, best + 1)  # patience 1: stops at the first stale epoch after the best
    restored = load_file(str(tmp_path / "t" / "model.safetensors"))
    at_best = load_file(str(seen[best - 1] / "last.safetensors"))
    assert all(torch.equal(restored[k], at_best[k]) for k in restored)


def test_unreadable_data_fails_the_trial_with_the_file_named(brain: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(brain, broken)
    import pandas as pd

    manifest = pd.read_parquet(broken / "manifest.parquet")
    victim = manifest[manifest["split"] == "val"]["path"].iloc[0]
    (broken / victim).write_bytes(b"not a png")
    with pytest.raises(TrialError) as err:
        train_trial(BASE.replace(epochs=1), prepared=broken, limit=None)
    assert Path(victim).name in str(err.value)


def test_cli_train_runs_a_smoke_trial_and_rejects_unknown_keys(brain: Path, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from medzoo.cli import search

    app = typer.Typer()  # only this part's commands: the test does not depend on other groups
    search.register(app)
    runner = CliRunner()
    bad = runner.invoke(app, ["train", str(brain), "--recipe", "brain-effnet", "--set", "lerning_rate=1"])
    assert bad.exit_code != 0 and "lerning_rate" in str(bad.exception)
    out = tmp_path / "trial"
    ok = runner.invoke(
        app,
        [
            "train",
            str(brain),
            "--recipe",
            "brain-effnet",
            "--smoke",
            "--set",
            "epochs=1",
            "--set",
            "family=tiny_cnn",
            "--out",
            str(out),
            "--test",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert (out / "model.safetensors").exists() and not (tmp_path / ".trial.checkpoint").exists()
    test = json.loads((out / "test_metrics.json").read_text())
    assert test["split"] == "test" and test["primary_metric"] == "accuracy"
    m = test["metrics"]["accuracy"]
    assert m["ci_low"] <= m["value"] <= m["ci_high"]


def test_a_misspelt_early_stopping_metric_is_an_error_not_a_silent_no_op(brain: Path) -> None:
    from medzoo.errors import ConfigError

    with pytest.raises(
        ConfigError, match="early_stop_metric='val_acuracy' is not a validation metric.*val_accuracy"
    ):
        train_trial(BASE.replace(epochs=1, early_stop_metric="val_acuracy"), prepared=brain, limit=LIMIT)
