"""Publishing a real (small) run: the entry layout, reloading with the same outputs, revisions, atomicity."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch

from medzoo.errors import ZooError
from medzoo.zoo.entries import store
from medzoo.zoo.entries.publishing import publish
from medzoo.zoo.inference.imageio import read_image

ENTRY = "figshare-brain/tiny_cnn"


def test_entry_layout_and_contents(tiny_zoo, tiny_run):
    path = store.resolve_entry(ENTRY, zoo=tiny_zoo).path
    for f in (
        "config.json",
        "model.safetensors",
        "README.md",
        "metrics.json",
        "search.json",
        "plots/confusion_matrix.png",
        "plots/roc.png",
        "plots/training_curves.png",
        "gradcam/index.json",
    ):
        assert (path / f).is_file(), f
    assert len(list((path / "gradcam").glob("*.png"))) >= 3  # per class overlays
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["architecture"] == "medzoo_tiny_cnn" and cfg["num_classes"] == 3
    assert cfg["label_names"] == ["meningioma", "glioma", "pituitary"]
    med = cfg["medzoo"]
    assert med["data_kind"] == "phantom" and med["trial_id"] == "t0000" and med["revision"] == "r1"
    weights = (tiny_run / "trials" / "t0000" / "model.safetensors").read_bytes()
    assert med["weights_sha256"] == hashlib.sha256(weights).hexdigest()
    metrics = json.loads((path / "metrics.json").read_text())
    test = json.loads((tiny_run / "trials" / "t0000" / "test_metrics.json").read_text())
    assert metrics["metrics"] == test["metrics"] and metrics["primary_metric"] == "accuracy"
    assert metrics["complexity"]["params"] > 0
    cam = metrics["gradcam"]
    assert cam["target_layer"] == "backbone.stage2" and cam["pointing_game"]["n"] > 0
    assert (
        0
        <= cam["pointing_game"]["ci_low"]
        <= cam["pointing_game"]["value"]
        <= cam["pointing_game"]["ci_high"]
        <= 1
    )
    assert "ROAD" in cam["faithfulness"]["method"] and np.isfinite(cam["faithfulness"]["value"])
    search = json.loads((path / "search.json").read_text())
    assert search["trials"] == 2 and search["configurations_compared"] == 2 and search["trial_id"] == "t0000"
    second = store.resolve_entry("figshare-brain/tiny_cnn-2", zoo=tiny_zoo)
    assert json.loads((second.path / "config.json").read_text())["medzoo"]["trial_id"] == "t0001"


def test_load_reproduces_the_searchs_test_outputs(tiny_zoo, tiny_run):
    """load() + preprocess on the prepared PNGs give the probabilities the search recorded on test."""
    from medzoo import datasets

    model, preprocess, labels = store.load(ENTRY, zoo=tiny_zoo)
    assert labels == ["meningioma", "glioma", "pituitary"]
    run = json.loads((tiny_run / "run.json").read_text())
    manifest = datasets.read_manifest(run["prepared"])
    test_rows = manifest[manifest["split"] == "test"].reset_index(drop=True)
    with np.load(tiny_run / "trials" / "t0000" / "test_outputs.npz", allow_pickle=False) as z:
        probs, indices = z["probs"], z["indices"]
    x = torch.stack(
        [preprocess(read_image(f"{run['prepared']}/{test_rows.loc[int(i), 'path']}").pixels) for i in indices]
    )
    with torch.no_grad():
        ours = torch.softmax(model(x), dim=1).numpy()
    np.testing.assert_allclose(ours, probs, atol=1e-4)


def test_timm_local_dir_gives_the_same_logits(tiny_zoo):
    import timm

    model, preprocess, _ = store.load(ENTRY, zoo=tiny_zoo)
    path = store.resolve_entry(ENTRY, zoo=tiny_zoo).path
    native = timm.create_model(f"local-dir:{path}", pretrained=True).eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(native(x), model(x))
    assert tuple(native.pretrained_cfg["input_size"]) == preprocess.input_size


def test_publishing_again_makes_a_new_revision_and_r1_still_loads(tiny_zoo, tiny_run, tmp_path):
    zoo = tmp_path / "zoo"
    shutil.copytree(tiny_zoo, zoo)
    r1 = store.resolve_entry(ENTRY, zoo=zoo).path
    before = {p.name: p.read_bytes() for p in r1.iterdir() if p.is_file()}
    ids = publish(tiny_run, top=1, zoo=zoo, gradcam_images=8, overlays_per_class=1, faithfulness_images=2)
    assert ids == [f"{ENTRY}@r2"]
    assert store.resolve_entry(ENTRY, zoo=zoo).revision == "r2"
    assert {p.name: p.read_bytes() for p in r1.iterdir() if p.is_file()} == before
    m1, _, _ = store.load(f"{ENTRY}@r1", zoo=zoo)
    m2, _, _ = store.load(ENTRY, zoo=zoo)
    x = torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(m1(x), m2(x))
    assert [e.id for e in store.list(zoo=zoo, all_revisions=True) if e.name == "tiny_cnn"] == [
        f"{ENTRY}@r1",
        f"{ENTRY}@r2",
    ]


def test_a_failing_publish_leaves_nothing_behind(tiny_run, tmp_path, monkeypatch):
    from medzoo.zoo.entries import card

    def boom(**kwargs):
        raise RuntimeError("disk full while writing the card")

    monkeypatch.setattr(card, "build_card", boom)
    zoo = tmp_path / "zoo"
    with pytest.raises(RuntimeError, match="disk full"):
        publish(
            tiny_run, zoo=zoo, name="broken", gradcam_images=4, overlays_per_class=1, faithfulness_images=0
        )
    home = zoo / "figshare-brain" / "broken"
    assert not any(p.name.startswith(("r", ".r")) for p in home.iterdir())
    assert store.list(zoo=zoo) == []


def test_publish_refuses_bad_runs(tiny_run, tmp_path):
    with pytest.raises(ZooError, match="got top=3 with 2 finished"):
        publish(tiny_run, top=3, zoo=tmp_path / "zoo")
    with pytest.raises(ZooError, match="top >= 1 must hold, got top=0"):
        publish(tiny_run, top=0, zoo=tmp_path / "zoo")
    with pytest.raises(ZooError, match="run.json is missing"):
        publish(tmp_path, zoo=tmp_path / "zoo")
    run = shutil.copytree(tiny_run, tmp_path / "run")
    (run / "trials" / "t0001" / "test_metrics.json").unlink()  # the search test-evaluated only its top 1
    with pytest.raises(ZooError, match=r"\['t0001'\] have no test_metrics.json"):
        publish(run, top=2, zoo=tmp_path / "zoo")
    assert not (tmp_path / "zoo").exists() or store.list(zoo=tmp_path / "zoo") == []


def test_publish_carries_the_runs_crossval_json_to_metrics_card_and_board(tiny_run, tmp_path):
    """A run with crossval.json (written by hand here, as `medzoo crossval` writes it) publishes its folds."""
    from medzoo.formats.entry import EntryMetrics
    from medzoo.formats.run import CrossvalResult, FoldResult, LeakGap, ProtocolResult
    from medzoo.leaderboards import table

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    folds = tuple(FoldResult(fold=k, value=0.6 + k / 20, n_test=20, n_patients=4, epochs=3) for k in range(3))
    record = CrossvalResult(
        trial_id="t0000",
        metric="accuracy",
        k=3,
        protocols=(
            ProtocolResult(protocol="patient", folds=folds, mean=0.65, sd=0.05),
            ProtocolResult(protocol="image", folds=folds, mean=0.8, sd=0.04),
        ),
        leak=LeakGap(metric="accuracy", difference=0.15, ci_low=0.05, ci_high=0.25),
    )
    record.write(run)
    zoo = tmp_path / "zoo"
    [entry] = publish(run, top=1, zoo=zoo, gradcam_images=8, overlays_per_class=1, faithfulness_images=2)
    folder = store.resolve_entry(entry, zoo=zoo).path
    assert EntryMetrics.read(folder).crossval == record
    card = (folder / "README.md").read_text()
    assert "## Cross-validation (3 folds, accuracy)" in card and "difference +0.1500" in card
    row = table("figshare-brain", zoo=zoo).rows[0]
    assert row.crossval_text() == "0.650 ± 0.050 (3-fold)" and row.leak_text() == "+0.150 [+0.050, +0.250]"
