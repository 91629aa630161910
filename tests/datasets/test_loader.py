"""open(): items, shapes, targets, masks, augmentation, folds, caches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medzoo import datasets
from medzoo.datasets import augment
from medzoo.errors import ConfigError, DatasetError


def test_items_follow_the_contract(prepared_phantom) -> None:
    ds = datasets.open(prepared_phantom("figshare-brain"), split="train", image_size=64)
    assert ds.classes == ["meningioma", "glioma", "pituitary"] and ds.task == "multiclass"
    assert len(ds) == len(ds.manifest) == len(ds.targets) == len(ds.patient_ids) > 0
    item = ds[0]
    assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.float32
    assert item["target"].dtype == torch.int64 and item["target"].ndim == 0
    assert item["mask"].shape == (1, 64, 64) and set(item["mask"].unique().tolist()) <= {0.0, 1.0}
    assert item["has_mask"] and item["mask"].sum() > 0 and item["index"] == 0
    # grey repeated to 3 channels, then normalised with ImageNet statistics per channel
    x = (
        item["image"] * torch.tensor([0.229, 0.224, 0.225])[:, None, None]
        + torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    )
    assert torch.allclose(x[0], x[1], atol=1e-5) and torch.allclose(x[1], x[2], atol=1e-5)
    assert set(ds.manifest["split"]) == {"train"}
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["image"].shape == (4, 3, 64, 64)


def test_rgb_without_masks_and_limit(prepared_phantom) -> None:
    ds = datasets.open(prepared_phantom("all-leukemia"), split="test", limit=3)
    assert len(ds) == 3
    item = ds[2]
    assert item["image"].shape == (3, 224, 224) and not item["has_mask"] and item["mask"].sum() == 0
    assert not torch.allclose(item["image"][0], item["image"][2])  # colour survives


def test_folds_select_train_and_val(prepared_phantom) -> None:
    out = prepared_phantom("figshare-brain")
    val1 = datasets.open(out, split="val", fold=1)
    train1 = datasets.open(out, split="train", fold=1)
    assert set(val1.manifest["fold"]) == {1} and 1 not in set(train1.manifest["fold"])
    assert not set(val1.patient_ids) & set(train1.patient_ids)
    assert set(datasets.open(out, split="test", fold=1).manifest["split"]) == {"test"}
    with pytest.raises(ConfigError, match="fold must be one of \\[0, 1, 2, 3\\], got fold=7"):
        datasets.open(out, split="val", fold=7)
    with pytest.raises(ConfigError, match="split must be one of"):
        datasets.open(out, split="validation")
    with pytest.raises(DatasetError, match="must hold rows"):
        datasets.open(prepared_phantom("kaggle-brain-mri"), split="train")


def test_caches_return_the_same_items(prepared_phantom) -> None:
    out = prepared_phantom("figshare-brain")
    plain = datasets.open(out, split="val", image_size=48)
    for cache in ("memory", "memmap"):
        cached = datasets.open(out, split="val", image_size=48, cache=cache)
        for i in (0, len(plain) - 1):
            a, b = plain[i], cached[i]
            assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
            assert a["has_mask"] == b["has_mask"]
    assert list((out / ".cache").glob("*-images.u8"))


def test_augmentation_moves_mask_with_image(prepared_phantom) -> None:
    out = prepared_phantom("figshare-brain")
    ds = datasets.open(out, split="train", image_size=64, augment="brain-keras")
    plain = datasets.open(out, split="train", image_size=64)
    np.random.seed(0)
    changed = 0
    for i in range(min(len(ds), 8)):
        a, p = ds[i], plain[i]
        assert a["image"].shape == p["image"].shape
        changed += not torch.equal(a["image"], p["image"])
        # the tumour mask still marks bright tissue after rotation/shift/flip
        m = a["mask"][0] > 0.5
        if m.sum() > 10:
            assert a["image"][0][m].mean() > a["image"][0].mean()
    assert changed >= 4


@pytest.mark.parametrize("preset", augment.names())
def test_every_preset_builds_and_keeps_shapes(preset: str) -> None:
    image = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    mask = np.zeros((40, 40), np.uint8)
    mask[5:15, 5:15] = 255
    pipe = augment.build(preset, strength=0.5)
    if preset == "none":
        assert pipe is None
        return
    out = pipe(image=image, mask=mask)
    assert out["image"].shape == (40, 40, 3) and out["mask"].shape == (40, 40)
    still = augment.build(preset, strength=0.0)(image=image, mask=mask)
    assert np.array_equal(still["image"], image)  # strength 0 is the identity


def test_augment_rejects_bad_names_and_strength() -> None:
    with pytest.raises(Exception, match="unknown augmentation preset 'brain-kera'; did you mean brain-keras"):
        augment.build("brain-kera")
    with pytest.raises(ConfigError, match="0 <= strength <= 1 must hold, got strength=2"):
        augment.build("light", strength=2)


def test_without_masks_items_hold_the_same_images_and_no_mask(prepared_phantom) -> None:
    """``masks=False`` (what a trial opens) skips the masks' decoding and changes nothing else."""
    out = prepared_phantom("figshare-brain")
    full = datasets.open(out, split="val", image_size=48)
    for cache in (None, "memory", "memmap"):
        lean = datasets.open(out, split="val", image_size=48, masks=False, cache=cache)
        for i in (0, len(full) - 1):
            a, b = full[i], lean[i]
            assert set(b) == {"image", "target", "index"} and b["index"] == i
            assert torch.equal(a["image"], b["image"]) and torch.equal(a["target"], b["target"])


def test_a_linked_folder_inside_the_set_is_refused_when_opened(prepared_phantom, tmp_path) -> None:
    """Folders are checked for links once per dataset (files still one by one, as they are opened)."""
    import shutil

    from medzoo.errors import MedzooError

    hostile = tmp_path / "prepared"
    shutil.copytree(prepared_phantom("figshare-brain"), hostile)
    rel = datasets.read_manifest(hostile)["path"].iloc[0]
    folder = hostile / rel.rsplit("/", 1)[0]
    moved = tmp_path / "elsewhere"
    folder.rename(moved)
    folder.symlink_to(moved, target_is_directory=True)
    with pytest.raises(MedzooError, match="symbolic link") as err:
        datasets.open(hostile, split="train")
    assert str(folder) in err.value.message
