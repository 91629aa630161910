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

from medzoo.scoring import bootstrap_mean, probabilities

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


class ClassTarget:
    """:func:`make_target` decided on the output it is given, so no forward pass is needed beforehand.

    Why: asking the model for its number of outputs cost one extra forward pass per call
    (profiled: a batch of 8 CAMs paid 1 + 8, a single CAM 1 + 1 forward passes).
    """

    def __init__(self, cls: int, *, task: str, prob: bool = False) -> None:
        self.cls, self.task, self.prob = cls, task, prob

    def __call__(self, output):
        return make_target(self.cls, int(output.shape[-1]), task=self.task, prob=self.prob)(output)


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
    out: list[np.ndarray] = []
    if reshape not in _RESHAPES:
        from medzoo.errors import ModelError

        raise ModelError(
            f"cam_reshape must be one of {sorted(k for k in _RESHAPES if k)} or None, got {reshape!r}"
        )
    # registered before GradCAM's own hooks, so they see the cut output (hooks run in registration order)
    cut = target_layer.register_forward_hook(_cut_below)
    try:
        with GradCAM(model=model, target_layers=[target_layer], reshape_transform=_RESHAPES[reshape]) as cam:
            for start in range(0, len(images), batch_size):
                batch = images[start : start + batch_size].to(device)
                targets = [ClassTarget(int(c), task=task) for c in classes[start : start + batch_size]]
                out.append(np.asarray(cam(input_tensor=batch, targets=targets), dtype=np.float32))
    finally:
        cut.remove()
    return np.concatenate(out) if out else np.zeros((0, *images.shape[2:]), np.float32)


def _cut_below(module, inputs, output):
    """The CAM layer's output as a leaf that needs grad: the backward pass stops at the CAM layer.

    Grad-CAM needs only the gradient at the CAM layer; without the cut, backward ran on
    through every layer below it to the input and the weights (profiled: resnet50's
    backward below layer4 was most of a CAM's cost). It also keeps the graph alive when
    every layer up to the CAM layer is frozen (no input needs grad any more).
    """
    import torch

    if isinstance(output, torch.Tensor):
        return output.detach().requires_grad_(True)
    return None


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


def road_score(
    model, images, cams: np.ndarray, classes: Sequence[int], *, task: str, seed: int = 0
) -> np.ndarray:
    """Per image ROAD combined score ((LeRF - MoRF) / 2 in class probability) at 20/50/80 % removal."""
    import torch
    from pytorch_grad_cam.metrics.road import ROADCombined

    device = next(model.parameters()).device
    targets = [ClassTarget(int(c), task=task, prob=True) for c in classes]
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


@dataclass
class _Sample:
    """The test items explained: localisation images first, then the extra overlay images."""

    dataset: Any
    multilabel: bool
    loc_idx: list[int]
    overlay_idx: list[int]
    items: dict[int, dict[str, Any]] = field(default_factory=dict)

    def item(self, i: int) -> dict[str, Any]:
        if i not in self.items:
            self.items[i] = self.dataset[i]
        return self.items[i]

    @property
    def wanted(self) -> list[int]:
        loc = set(self.loc_idx)
        return self.loc_idx + [i for i in self.overlay_idx if i not in loc]


def _true_class(targets: np.ndarray, i: int, *, multilabel: bool) -> int | None:
    """The class an image is explained for: its label (multi-label: its first positive, None if none)."""
    t = targets[i]
    if multilabel:
        pos = np.flatnonzero(np.asarray(t) > 0.5)
        return int(pos[0]) if pos.size else None
    return int(t)


def _choose(
    dataset, *, n_labels: int, multilabel: bool, per_class: int, max_images: int, seed: int
) -> _Sample:
    """Seeded overlay images per class, and up to ``max_images`` images with a non-empty lesion mask."""
    rng = np.random.default_rng(seed)
    targets = np.asarray(dataset.targets)
    overlay_idx: list[int] = []
    for c in range(n_labels):
        members = np.flatnonzero(targets[:, c] > 0.5) if multilabel else np.flatnonzero(targets == c)
        if members.size:
            overlay_idx.extend(
                int(i) for i in rng.choice(members, size=min(per_class, members.size), replace=False)
            )
    sample = _Sample(dataset=dataset, multilabel=multilabel, loc_idx=[], overlay_idx=overlay_idx)
    for i in (int(i) for i in rng.permutation(len(dataset))):
        if len(sample.loc_idx) >= max_images:
            break
        if _true_class(targets, i, multilabel=multilabel) is None:
            continue
        it = sample.item(i)
        if bool(it.get("has_mask", False)) and float(it["mask"].sum()) > 0:
            sample.loc_idx.append(i)
    keep = set(sample.loc_idx) | set(overlay_idx)
    sample.items = {i: v for i, v in sample.items.items() if i in keep}  # only what will be explained
    return sample


def _classes_to_explain(model, sample: _Sample, targets: np.ndarray) -> list[int]:
    import torch

    device = next(model.parameters()).device
    out = []
    for i in sample.wanted:
        c = _true_class(targets, i, multilabel=sample.multilabel)
        if c is None:  # multi-label "no finding": explain the label the model finds most likely
            with torch.no_grad():
                c = int(torch.sigmoid(model(sample.item(i)["image"][None].to(device))).argmax())
        out.append(c)
    return out


def _logits(model, images, batch_size: int):
    import torch

    device = next(model.parameters()).device
    with torch.no_grad():
        return torch.cat(
            [
                model(images[s : s + batch_size].to(device)).float().cpu()
                for s in range(0, len(images), batch_size)
            ]
        )


def _localisation_metrics(sample: _Sample, cams: np.ndarray | None, shape, *, seed: int) -> dict[str, Any]:
    k = len(sample.loc_idx)
    if not k:
        empty = {"value": None, "ci_low": None, "ci_high": None, "n": 0}
        return {
            "pointing_game": dict(empty),
            "energy_in_mask": dict(empty),
            "localisation_images": 0,
            "note": "no lesion masks in this test split: localisation not measured",
        }
    masks = np.stack([sample.item(i)["mask"].numpy().reshape(shape) for i in sample.loc_idx])
    return {
        "pointing_game": bootstrap_mean(pointing_hits(cams[:k], masks).astype(float), seed=seed),
        "energy_in_mask": bootstrap_mean(energy_in_mask(cams[:k], masks), seed=seed),
        "mask_share": float(masks.reshape(k, -1).mean()),  # chance level of energy_in_mask
        "localisation_images": k,
    }


def _overlays(
    sample: _Sample, images, cams: np.ndarray, classes: list[int], probs: np.ndarray, *, labels, mean, std
) -> list[dict[str, Any]]:
    shown = denormalise(images, mean, std)
    pos = {i: p for p, i in enumerate(sample.wanted)}
    out = []
    for rank, i in enumerate(sample.overlay_idx):
        p = pos[i]
        c = classes[p]
        pred = int(np.argmax(probs[p]))
        out.append(
            {
                "file": f"gradcam/{_safe(labels[c])}_{rank:02d}.png",
                "image": overlay(shown[p], cams[p]),
                "label": labels[c],
                "true": labels[c],
                "pred": labels[pred],
                "prob": float(probs[p][pred]),
                "index": int(sample.item(i).get("index", i)),
            }
        )
    return out


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

    multilabel = task == "multilabel"
    sample = _choose(
        dataset,
        n_labels=len(labels),
        multilabel=multilabel,
        per_class=per_class,
        max_images=max_images,
        seed=seed,
    )
    wanted = sample.wanted
    metrics: dict[str, Any] = {"target_layer": layer, "method": "GradCAM (pytorch-grad-cam)", "seed": seed}
    if not wanted:
        metrics.update(_localisation_metrics(sample, None, None, seed=seed))
        return GradcamReport(metrics=metrics)
    classes = _classes_to_explain(model, sample, np.asarray(dataset.targets))
    images = torch.stack([sample.item(i)["image"] for i in wanted])
    cams = compute_cams(
        model, images, classes, layer=layer, task=task, batch_size=batch_size, reshape=reshape
    )
    metrics.update(_localisation_metrics(sample, cams, images.shape[-2:], seed=seed))
    if faithfulness_images > 0:
        m = min(faithfulness_images, len(wanted))
        ci = bootstrap_mean(
            road_score(model, images[:m], cams[:m], classes[:m], task=task, seed=seed), seed=seed
        )
        metrics["faithfulness"] = {
            "method": f"ROAD combined (pytorch-grad-cam), removal {list(ROAD_PERCENTILES)} %",
            **{k: ci[k] for k in ("value", "ci_low", "ci_high")},
            "n": m,
        }
    probs = probabilities(_logits(model, images, batch_size), task=task).numpy()
    overlays = _overlays(sample, images, cams, classes, probs, labels=labels, mean=mean, std=std)
    return GradcamReport(metrics=metrics, overlays=overlays)


def _safe(label: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:40] or "class"
