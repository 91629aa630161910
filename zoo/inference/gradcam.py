"""Grad-CAM evidence for a zoo entry: overlays, localisation against lesion masks, faithfulness.

Uses pytorch-grad-cam at the family's ``cam_layer``. Localisation is measured
where the test set has lesion masks: the pointing game (is the CAM's maximum
inside the mask, with the usual 15 px tolerance at 224 px, scaled to the input
size) and the share of CAM energy inside the mask, each with a 95 % bootstrap
interval over images. Faithfulness is the library's ROAD score (remove the most
vs. least relevant pixels by noisy linear imputation and compare the drop in
class probability): a map that points at what the model really uses scores high.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ROAD_PERCENTILES = (20, 50, 80)


class ClassScore:
    """A pytorch-grad-cam target: the logit (or softmax/sigmoid probability) of one class.

    ``sign=-1`` turns a single-logit binary model's output into the score of the
    negative class, so CAMs can be asked for either class.
    """

    def __init__(
        self, index: int, *, sign: float = 1.0, prob: bool = False, multilabel: bool = False
    ) -> None:
        self.index, self.sign, self.prob, self.multilabel = index, sign, prob, multilabel

    def __call__(self, output):
        import torch

        if self.prob:
            if self.multilabel or output.shape[-1] == 1:
                output = torch.sigmoid(self.sign * output)
                return output[..., self.index]
            output = torch.softmax(output, dim=-1)
            return output[..., self.index]
        return self.sign * output[..., self.index]


def make_target(cls: int, num_outputs: int, *, task: str, prob: bool = False) -> ClassScore:
    if num_outputs == 1:  # single-logit binary model: class 1 = +logit, class 0 = -logit
        return ClassScore(0, sign=1.0 if cls == 1 else -1.0, prob=prob)
    return ClassScore(cls, prob=prob, multilabel=task == "multilabel")


def vit_tokens_to_map(tensor):
    """Token activations (B, N, C) -> (B, C, h, w): the prefix (class/register) tokens are dropped."""
    import math

    b, n, c = tensor.shape
    side = math.isqrt(n)
    grid = tensor[:, n - side * side :, :]
    return grid.reshape(b, side, side, c).permute(0, 3, 1, 2)


_RESHAPES = {None: None, "vit": vit_tokens_to_map}


def compute_cams(
    model,
    images,
    classes: Sequence[int],
    *,
    layer: str,
    task: str,
    batch_size: int = 16,
    reshape: str | None = None,
) -> np.ndarray:
    """Grad-CAM maps (N, H, W) in [0, 1] for ``images`` (N, 3, H, W) and one class per image, batched.

    ``reshape="vit"`` turns a transformer layer's tokens into a spatial map (the family's ``cam_reshape``).
    """
    from pytorch_grad_cam import GradCAM

    try:
        target_layer = model.get_submodule(layer)
    except AttributeError:
        from medzoo.errors import ModelError

        raise ModelError(f"the CAM layer {layer!r} must be a submodule of the model; it is not") from None
    model.eval()  # BN in eval: a batch of one must not fail on BatchNorm1d heads (mlp_bn)
    device = next(model.parameters()).device
    num_outputs = _num_outputs(model, images[:1].to(device))
    out: list[np.ndarray] = []
    if reshape not in _RESHAPES:
        from medzoo.errors import ModelError

        raise ModelError(
            f"cam_reshape must be one of {sorted(k for k in _RESHAPES if k)} or None, got {reshape!r}"
        )
    with GradCAM(model=model, target_layers=[target_layer], reshape_transform=_RESHAPES[reshape]) as cam:
        for start in range(0, len(images), batch_size):
            # an input that needs grad keeps the graph alive even when every layer up to the CAM layer is frozen
            batch = images[start : start + batch_size].to(device).requires_grad_(True)
            targets = [
                make_target(int(c), num_outputs, task=task) for c in classes[start : start + batch_size]
            ]
            out.append(np.asarray(cam(input_tensor=batch, targets=targets), dtype=np.float32))
    return np.concatenate(out) if out else np.zeros((0, *images.shape[2:]), np.float32)


def _num_outputs(model, x) -> int:
    import torch

    with torch.no_grad():
        return int(model(x).shape[-1])


def pointing_hits(cams: np.ndarray, masks: np.ndarray, *, tolerance: int | None = None) -> np.ndarray:
    """Per image: is the CAM's maximum inside the (tolerance-dilated) mask?"""
    import cv2

    hits = np.zeros(len(cams), dtype=bool)
    for i, (c, m) in enumerate(zip(cams, masks, strict=True)):
        tol = tolerance if tolerance is not None else max(1, round(15 * c.shape[0] / 224))
        mm = (m > 0.5).astype(np.uint8)
        if tol > 0:
            mm = cv2.dilate(mm, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tol + 1, 2 * tol + 1)))
        y, x = np.unravel_index(int(np.argmax(c)), c.shape)
        hits[i] = bool(mm[y, x])
    return hits


def energy_in_mask(cams: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image: the share of CAM mass inside the mask (0 when the CAM is all zero)."""
    m = (masks > 0.5).astype(np.float32)
    total = cams.reshape(len(cams), -1).sum(axis=1)
    inside = (cams * m).reshape(len(cams), -1).sum(axis=1)
    return np.where(total > 0, inside / np.maximum(total, 1e-12), 0.0)


def bootstrap_mean(
    values: np.ndarray, *, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """Mean with a percentile-bootstrap interval over the items."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return {"value": None, "ci_low": None, "ci_high": None, "n": 0}
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(resamples, v.size))].mean(axis=1)
    a = (1 - level) / 2
    return {
        "value": float(v.mean()),
        "ci_low": float(np.quantile(means, a)),
        "ci_high": float(np.quantile(means, 1 - a)),
        "n": int(v.size),
    }


def road_score(
    model, images, cams: np.ndarray, classes: Sequence[int], *, task: str, seed: int = 0
) -> np.ndarray:
    """Per image ROAD combined score ((LeRF - MoRF) / 2 in class probability) at 20/50/80 % removal."""
    import torch
    from pytorch_grad_cam.metrics.road import ROADCombined

    device = next(model.parameters()).device
    num_outputs = _num_outputs(model, images[:1].to(device))
    targets = [make_target(int(c), num_outputs, task=task, prob=True) for c in classes]
    metric = ROADCombined(percentiles=list(ROAD_PERCENTILES))
    import warnings

    with (
        torch.random.fork_rng(devices=[]),
        warnings.catch_warnings(),
    ):  # seeded imputer noise, global RNG untouched
        # the library's imputer hands torch tensors to numpy (NumPy 2 deprecation inside grad-cam 1.5.7)
        warnings.filterwarnings(
            "ignore", message="__array_wrap__ must accept context", category=DeprecationWarning
        )
        torch.manual_seed(seed)
        scores = metric(images.to(device), cams, targets, model)
    return np.asarray(scores, dtype=np.float32).reshape(-1)


def overlay(image_rgb: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """The CAM as a JET heat map over the uint8 RGB image (uint8 RGB)."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    return show_cam_on_image(image_rgb.astype(np.float32) / 255.0, cam, use_rgb=True, image_weight=0.55)


def denormalise(images, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(N, 3, H, W) normalised tensor -> uint8 (N, H, W, 3) as shown to the model."""
    x = images.detach().cpu().numpy().transpose(0, 2, 3, 1)
    x = x * np.asarray(std, np.float32) + np.asarray(mean, np.float32)
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


@dataclass
class GradcamReport:
    """What publish stores: the metrics.json "gradcam" block and the overlay images."""

    metrics: dict[str, Any]
    overlays: list[dict[str, Any]] = field(
        default_factory=list
    )  # {file, image (uint8 RGB), label, pred, prob, index}


def evaluate(
    model,
    dataset,
    *,
    layer: str,
    task: str,
    labels: Sequence[str],
    mean: Sequence[float],
    std: Sequence[float],
    per_class: int = 2,
    max_images: int = 200,
    faithfulness_images: int = 16,
    seed: int = 0,
    batch_size: int = 16,
    reshape: str | None = None,
) -> GradcamReport:
    """Grad-CAM evidence on a seeded sample of the test split.

    Localisation uses up to ``max_images`` test images with a non-empty lesion
    mask, each explained for its true class (multi-label: its first positive
    label). Overlays: ``per_class`` seeded images per class. Faithfulness (ROAD)
    on ``faithfulness_images`` of them, because the imputer solves a sparse
    system per image and removal level.
    """
    import torch

    rng = np.random.default_rng(seed)
    n = len(dataset)
    targets = np.asarray(dataset.targets)
    multilabel = task == "multilabel"

    def cls_of(i: int) -> int | None:
        t = targets[i]
        if multilabel:
            pos = np.flatnonzero(np.asarray(t) > 0.5)
            return int(pos[0]) if pos.size else None
        return int(t)

    overlay_idx: list[int] = []
    for c in range(len(labels)):
        members = np.flatnonzero(targets[:, c] > 0.5) if multilabel else np.flatnonzero(targets == c)
        if members.size:
            overlay_idx.extend(
                int(i) for i in rng.choice(members, size=min(per_class, members.size), replace=False)
            )
    order = rng.permutation(n)
    loc_candidates = [int(i) for i in order if cls_of(int(i)) is not None]

    items: dict[int, dict[str, Any]] = {}

    def item(i: int) -> dict[str, Any]:
        if i not in items:
            items[i] = dataset[i]
        return items[i]

    loc_idx: list[int] = []
    for i in loc_candidates:
        if len(loc_idx) >= max_images:
            break
        it = item(i)
        if bool(it.get("has_mask", False)) and float(it["mask"].sum()) > 0:
            loc_idx.append(i)
    loc_set = set(loc_idx)
    for i in list(items):
        if i not in loc_set and i not in overlay_idx:
            del items[i]

    wanted = loc_idx + [i for i in overlay_idx if i not in loc_set]
    wanted_cls = []
    for i in wanted:
        c = cls_of(i)
        if c is None:  # multi-label "no finding": explain the label the model finds most likely
            with torch.no_grad():
                c = int(
                    torch.sigmoid(model(item(i)["image"][None].to(next(model.parameters()).device))).argmax()
                )
        wanted_cls.append(c)
    images = torch.stack([item(i)["image"] for i in wanted]) if wanted else torch.zeros(0)
    cams = (
        compute_cams(
            model, images, wanted_cls, layer=layer, task=task, batch_size=batch_size, reshape=reshape
        )
        if wanted
        else None
    )
    with torch.no_grad():
        logits = (
            torch.cat(
                [
                    model(images[s : s + batch_size].to(next(model.parameters()).device)).float().cpu()
                    for s in range(0, len(wanted), batch_size)
                ]
            )
            if wanted
            else None
        )

    metrics: dict[str, Any] = {"target_layer": layer, "method": "GradCAM (pytorch-grad-cam)", "seed": seed}
    k = len(loc_idx)
    if k:
        masks = np.stack([item(i)["mask"].numpy().reshape(images.shape[-2:]) for i in loc_idx])
        hits = pointing_hits(cams[:k], masks)
        energy = energy_in_mask(cams[:k], masks)
        metrics["pointing_game"] = bootstrap_mean(hits.astype(float), seed=seed)
        metrics["energy_in_mask"] = bootstrap_mean(energy, seed=seed)
        metrics["mask_share"] = float(masks.reshape(k, -1).mean())  # chance level of energy_in_mask
        metrics["localisation_images"] = k
    else:
        metrics["pointing_game"] = {"value": None, "ci_low": None, "ci_high": None, "n": 0}
        metrics["energy_in_mask"] = {"value": None, "ci_low": None, "ci_high": None, "n": 0}
        metrics["localisation_images"] = 0
        metrics["note"] = "no lesion masks in this test split: localisation not measured"
    if wanted and faithfulness_images > 0:
        m = min(faithfulness_images, len(wanted))
        scores = road_score(model, images[:m], cams[:m], wanted_cls[:m], task=task, seed=seed)
        ci = bootstrap_mean(scores, seed=seed)
        metrics["faithfulness"] = {
            "method": f"ROAD combined (pytorch-grad-cam), removal {list(ROAD_PERCENTILES)} %",
            "value": ci["value"],
            "ci_low": ci["ci_low"],
            "ci_high": ci["ci_high"],
            "n": m,
        }

    report = GradcamReport(metrics=metrics)
    if wanted:
        shown = denormalise(images, mean, std)
        pos = {i: p for p, i in enumerate(wanted)}
        if multilabel:
            probs = torch.sigmoid(logits).numpy()
        elif logits.shape[1] == 1:
            p1 = torch.sigmoid(logits[:, 0]).numpy()
            probs = np.stack([1 - p1, p1], axis=1)
        else:
            probs = torch.softmax(logits, dim=1).numpy()
        for rank, i in enumerate(overlay_idx):
            p = pos[i]
            c = wanted_cls[p]
            pred = int(np.argmax(probs[p]))
            report.overlays.append(
                {
                    "file": f"gradcam/{_safe(labels[c])}_{rank:02d}.png",
                    "image": overlay(shown[p], cams[p]),
                    "label": labels[c],
                    "true": labels[c],
                    "pred": labels[pred],
                    "prob": float(probs[p][pred]),
                    "index": int(item(i).get("index", i)),
                }
            )
    return report


def _safe(label: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:40] or "class"
