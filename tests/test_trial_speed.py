"""The trial's speed paths change nothing a user sees: same batches, same images, same order.

``build_loaders`` holds a split without augmentation as tensors (``TensorSplit``)
and keeps decoded images in memory otherwise; both must yield exactly what the
plain per-item DataLoader yields for the same seed and epoch. The epoch checkpoint
rewrites only changed files, yet every reported folder is complete; Grad-CAM stops
its backward pass at the CAM layer, yet gives the same maps.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from medzoo.device import detect
from medzoo.search.config import TrialConfig
from medzoo.search.trial import TensorSplit, build_loaders

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _batches(cfg: TrialConfig, prepared: Path, split: str, seed: int) -> list[dict]:
    loader = build_loaders(
        cfg, prepared=prepared, image_size=32, mean=MEAN, std=STD, runtime=detect("cpu"), splits=(split,)
    )[split]
    loader.generator.manual_seed(seed)
    return list(loader)


@pytest.mark.parametrize("balance", ["none", "sampler"])
def test_tensor_split_yields_the_per_item_loaders_batches(prepared_phantom, balance: str) -> None:
    prepared = prepared_phantom("figshare-brain")
    fast = TrialConfig(family="tiny_cnn", augment="none", batch_size=8, balance=balance)
    slow = replace(fast, num_workers=1)  # a worker process: the per-item path
    loader = build_loaders(
        fast, prepared=prepared, image_size=32, mean=MEAN, std=STD, runtime=detect("cpu"), splits=("train",)
    )["train"]
    assert isinstance(loader.dataset, TensorSplit)
    assert loader.dataset.classes == [
        "meningioma",
        "glioma",
        "pituitary",
    ]  # the split's attributes pass through
    for split in ("train", "val"):
        a, b = _batches(fast, prepared, split, 7), _batches(slow, prepared, split, 7)
        assert len(a) == len(b) > 0
        for x, y in zip(a, b, strict=True):
            assert torch.equal(torch.as_tensor(x["index"]), torch.as_tensor(y["index"]))
            assert torch.equal(x["target"], y["target"])
            assert torch.allclose(x["image"], y["image"])


def test_augmented_training_stays_per_item(prepared_phantom) -> None:
    cfg = TrialConfig(family="tiny_cnn", augment="light", batch_size=8)
    loaders = build_loaders(
        cfg,
        prepared=prepared_phantom("figshare-brain"),
        image_size=32,
        mean=MEAN,
        std=STD,
        runtime=detect("cpu"),
    )
    assert not isinstance(loaders["train"].dataset, TensorSplit)
    assert loaders["train"].dataset.cache == "memory"  # decoded once per trial, augmented every epoch
    assert isinstance(loaders["val"].dataset, TensorSplit)


def test_reported_checkpoints_stay_complete_when_unchanged_files_are_not_rewritten(
    prepared_phantom, tmp_path: Path
) -> None:
    """The epoch checkpoint is one folder updated in place: every reported state must still be whole."""
    import json
    import shutil

    from safetensors.torch import load_file

    from medzoo.search import train_trial
    from medzoo.search.checkpoint import OUTPUT_FILES, RESUME_FILES

    folders, copies = [], []

    def report(metrics: dict, folder: Path) -> None:
        folders.append(folder)
        copies.append(shutil.copytree(folder, tmp_path / f"epoch{metrics['epoch']}"))

    cfg = TrialConfig(family="tiny_cnn", image_size=32, epochs=4, batch_size=16, augment="none", lr=0.5)
    cfg = replace(
        cfg, optimizer="sgd", early_stop_metric="val_loss"
    )  # a lr this high makes the best epoch move
    train_trial(
        cfg, prepared=prepared_phantom("figshare-brain"), limit={"train": 48, "val": 24}, report=report
    )
    assert len(copies) == 4 and len(set(folders)) == 1 and not folders[0].exists()  # removed after the trial
    for copy in copies:
        assert {*OUTPUT_FILES, *RESUME_FILES} <= {p.name for p in copy.iterdir()}
        best = json.loads((copy / "val_metrics.json").read_text())["epoch"]
        history = json.loads((copy / "history.json").read_text())
        assert [h["epoch"] for h in history] == list(range(1, len(history) + 1))
        # the best weights in each reported folder are those of its best epoch, never a stale copy
        kept, at_best = (
            load_file(str(copy / "model.safetensors")),
            load_file(str(copies[best - 1] / "last.safetensors")),
        )
        assert all(torch.equal(kept[k], at_best[k]) for k in kept)


def test_grad_cam_stopping_backward_at_the_cam_layer_gives_the_same_maps() -> None:
    """``compute_cams`` cuts the graph below the CAM layer: the maps equal a full backward's."""
    from pytorch_grad_cam import GradCAM

    from medzoo import zoo
    from medzoo.zoo.inference.gradcam import ClassScore, compute_cams

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = zoo.create_model("tiny_resnet", num_classes=3).eval()
        x = torch.randn(3, 3, 64, 64)
    layer = model.medzoo["cam_layer"]
    ours = compute_cams(model, x, [0, 1, 2], layer=layer, task="multiclass", batch_size=2)
    first = next(model.parameters())  # the stem, far below the CAM layer: no backward reached it
    assert first.grad is None or not first.grad.abs().sum()
    with GradCAM(model=model, target_layers=[model.get_submodule(layer)]) as cam:
        full = cam(input_tensor=x.clone().requires_grad_(True), targets=[ClassScore(c) for c in (0, 1, 2)])
    assert ours.shape == (3, 64, 64) and float(abs(ours - full).max()) < 1e-5
