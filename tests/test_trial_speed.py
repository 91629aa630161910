"""The trial's speed paths change nothing a user sees: same batches, same images, same order.

``build_loaders`` holds a split without augmentation as tensors (``TensorSplit``)
and keeps decoded images in memory otherwise; both must yield exactly what the
plain per-item DataLoader yields for the same seed and epoch.
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
