"""Feature maps for try-a-model: the entry's own activations at its CAM layer, drawn as a small grid.

The CXR study's system promised feature maps and its published code drew random
noise instead; these are the real activations of the layer named by the entry's
``cam_layer`` (config.json ``medzoo`` section), captured by a forward hook during
the prediction's own forward pass (no extra inference), so what is shown is what
the model computed for this image.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

#: how many channels the grid shows (the highest mean activation first), and its layout
TOP_CHANNELS = 8
GRID_COLUMNS = 4
TILE_PX = 96
GAP_PX = 4


@dataclass(frozen=True, kw_only=True)
class FeatureMaps:
    """The grid PNG of the top channels of ``layer`` and, per tile in reading order, (channel, mean)."""

    layer: str
    png: bytes
    channels: tuple[tuple[int, float], ...]


@dataclass
class _Capture:
    """The first output the hooked module produced (the prediction's forward; Grad-CAM's later ones ignored)."""

    output: Any = None


@contextmanager
def capture(model: Any, layer: str | None) -> Iterator[_Capture]:
    """Hook ``layer`` of ``model`` while the block runs; yields what it captured (nothing when no layer)."""
    found = _Capture()
    if not layer:
        yield found
        return
    try:
        module = model.get_submodule(layer)
    except AttributeError:
        yield found  # the prediction itself reports a bad CAM layer
        return

    def hook(_module: Any, _inputs: Any, output: Any) -> None:
        if found.output is None:
            first = output[0] if isinstance(output, (tuple, list)) else output
            found.output = first.detach().float().cpu()

    handle = module.register_forward_hook(hook)
    try:
        yield found
    finally:
        handle.remove()


def feature_maps(activation: Any, *, layer: str, reshape: str | None = None) -> FeatureMaps | None:
    """The grid of the ``TOP_CHANNELS`` channels of one image's activation with the highest mean, each tile
    scaled to its own range (viridis); None when the layer's output is not a spatial map."""
    if activation is None:
        return None
    x = activation
    if reshape == "vit" and x.ndim == 3:
        from medzoo.zoo.inference.gradcam import vit_tokens_to_map

        x = vit_tokens_to_map(x)
    if x.ndim != 4 or min(x.shape[1:]) < 1:
        return None
    maps = x[0].numpy().astype(np.float32)
    if not np.all(np.isfinite(maps)):
        return None
    means = maps.reshape(len(maps), -1).mean(axis=1)
    top = np.argsort(-means, kind="stable")[:TOP_CHANNELS]
    from medzoo.zoo.inference.imageio import encode_png

    png = encode_png(_grid([maps[c] for c in top]))
    return FeatureMaps(layer=layer, png=png, channels=tuple((int(c), float(means[c])) for c in top))


def grid_shape(n: int) -> tuple[int, int]:
    """(height, width) in pixels of the grid of ``n`` tiles."""
    rows = -(-n // GRID_COLUMNS)
    cols = min(n, GRID_COLUMNS)
    return rows * TILE_PX + (rows - 1) * GAP_PX, cols * TILE_PX + (cols - 1) * GAP_PX


def _grid(maps: list[np.ndarray]) -> np.ndarray:
    """uint8 RGB grid of the maps (white gaps), each min-max scaled and resized to a square tile."""
    import cv2

    h, w = grid_shape(len(maps))
    out = np.full((h, w, 3), 255, np.uint8)
    for k, m in enumerate(maps):
        lo, hi = float(m.min()), float(m.max())
        scaled = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
        u8 = np.clip(scaled * 255.0 + 0.5, 0, 255).astype(np.uint8)
        tile = cv2.resize(u8, (TILE_PX, TILE_PX), interpolation=cv2.INTER_NEAREST)
        rgb = cv2.cvtColor(cv2.applyColorMap(tile, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)
        r, c = divmod(k, GRID_COLUMNS)
        y, x = r * (TILE_PX + GAP_PX), c * (TILE_PX + GAP_PX)
        out[y : y + TILE_PX, x : x + TILE_PX] = rgb
    return out
