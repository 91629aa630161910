"""Grad-CAM evidence: the localisation measures themselves, and a trained model beating an untrained one."""

from __future__ import annotations

import numpy as np
import pytest

from medzoo.zoo.inference.gradcam import bootstrap_mean, energy_in_mask, pointing_hits


def test_pointing_game_and_energy_on_known_maps():
    masks = np.zeros((3, 32, 32), np.float32)
    masks[:, 10:14, 10:14] = 1
    cams = np.zeros((3, 32, 32), np.float32)
    cams[0, 12, 12] = 1.0  # peak inside
    cams[1, 30, 30] = 1.0  # peak far outside
    cams[2, 15, 12] = 1.0  # 2 px below the mask: inside only with tolerance
    assert pointing_hits(cams, masks, tolerance=0).tolist() == [True, False, False]
    assert pointing_hits(cams, masks, tolerance=3).tolist() == [True, False, True]
    assert pointing_hits(cams, masks).tolist() == [True, False, True]  # 15 px at 224 -> 2 px at 32
    energy = energy_in_mask(cams, masks)
    assert energy.tolist() == [1.0, 0.0, 0.0]
    uniform = np.ones((1, 32, 32), np.float32)
    assert energy_in_mask(uniform, masks[:1])[0] == pytest.approx(16 / 1024)


def test_bootstrap_interval_contains_the_mean_and_is_seeded():
    v = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 1], float)
    a = bootstrap_mean(v, seed=3)
    assert a == bootstrap_mean(v, seed=3)
    assert a["value"] == pytest.approx(0.7) and a["ci_low"] < 0.7 < a["ci_high"] and a["n"] == 10
    assert bootstrap_mean(np.array([]))["value"] is None


class LesionPhantom:
    """A small lesion phantom in the PreparedDataset item format: grey textured background, one lesion per
    image at a random place (class 0 hyper-, class 1 hypo-intense; drawn with medzoo.datasets.phantom's
    blob_mask), a label-independent bright distractor blob, and the lesion mask."""

    def __init__(self, n: int, *, size: int = 64, seed: int = 0) -> None:
        import torch

        from medzoo.datasets.phantom import blob_mask, smooth_noise

        rng = np.random.default_rng(seed)
        self.classes = ["hyperintense", "hypointense"]
        self.targets = np.arange(n) % 2
        images, masks = [], []
        for t in self.targets:
            img = 0.35 + 0.08 * smooth_noise(rng, (size, size), scale=4)
            c = (rng.uniform(12, size - 12), rng.uniform(12, size - 12))
            m = blob_mask(
                (size, size),
                c,
                rng.uniform(4, 7),
                rng=rng,
                irregularity=0.3,
                elongation=rng.uniform(1.0, 1.6),
                angle=rng.uniform(0, np.pi),
            )
            d = blob_mask((size, size), (rng.uniform(4, size - 4), rng.uniform(4, size - 4)), 3, rng=rng) & ~m
            img = np.where(m, 0.9 if t == 0 else 0.05, img)
            img = np.where(d, 0.65, img) + 0.04 * rng.standard_normal((size, size))
            images.append(np.clip(img, 0, 1).astype(np.float32))
            masks.append(m.astype(np.float32))
        x = torch.from_numpy(np.stack(images))[:, None].repeat(1, 3, 1, 1)
        self.images = (x - 0.5) / 0.25
        self.masks = torch.from_numpy(np.stack(masks))[:, None]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> dict:
        return {
            "image": self.images[i],
            "target": int(self.targets[i]),
            "mask": self.masks[i],
            "has_mask": True,
            "index": i,
        }


@pytest.mark.slow
def test_trained_model_localises_lesions_clearly_better_than_an_untrained_one():
    import torch

    from medzoo.zoo.architectures.families import create_model
    from medzoo.zoo.inference import gradcam

    torch.manual_seed(0)
    train, test = LesionPhantom(192, seed=1), LesionPhantom(48, seed=2)
    untrained = create_model("tiny_cnn", num_classes=2, img_size=64).eval()
    model = create_model("tiny_cnn", num_classes=2, img_size=64)
    model.load_state_dict(untrained.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    y = torch.as_tensor(train.targets)
    for _ in range(10):
        model.train()
        for idx in torch.randperm(len(train), generator=torch.Generator().manual_seed(_)).split(32):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(train.images[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(test.images).argmax(1).numpy() == test.targets).mean()
    assert acc >= 0.85, f"the phantom model must learn the task first, got test accuracy {acc:.2f}"
    kw = dict(
        layer="backbone.stage2",
        task="multiclass",
        labels=test.classes,
        mean=(0.5,) * 3,
        std=(0.25,) * 3,
        per_class=1,
        faithfulness_images=4,
    )
    trained_r = gradcam.evaluate(model, test, **kw).metrics
    untrained_r = gradcam.evaluate(untrained, test, **kw).metrics
    pg_t, pg_u = trained_r["pointing_game"], untrained_r["pointing_game"]
    assert pg_t["n"] == pg_u["n"] == 48
    assert pg_t["value"] >= 0.6 and pg_t["ci_low"] > pg_u["ci_high"], (pg_t, pg_u)
    assert trained_r["energy_in_mask"]["value"] > 2 * untrained_r["energy_in_mask"]["value"]
    assert trained_r["energy_in_mask"]["value"] > 2 * trained_r["mask_share"]


def test_cams_for_frozen_models_and_vit_token_maps():
    import torch

    from medzoo.zoo.architectures.families import create_model
    from medzoo.zoo.inference.gradcam import compute_cams, vit_tokens_to_map

    frozen = create_model("tiny_cnn", num_classes=3, img_size=32, freeze=3).eval()
    assert not any(p.requires_grad for p in frozen.backbone.parameters())
    cams = compute_cams(
        frozen, torch.randn(3, 3, 32, 32), [0, 1, 2], layer="backbone.stage2", task="multiclass"
    )
    assert cams.shape == (3, 32, 32) and np.isfinite(cams).all() and cams.max() > 0
    tokens = torch.arange(2 * 197 * 4, dtype=torch.float32).reshape(2, 197, 4)
    grid = vit_tokens_to_map(tokens)
    assert tuple(grid.shape) == (2, 4, 14, 14)
    assert torch.equal(grid[:, :, 0, 0], tokens[:, 1, :])  # the class token is dropped
