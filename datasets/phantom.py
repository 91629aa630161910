"""Drawing helpers for phantoms: smooth noise, bias fields, irregular blobs.

Phantoms must be hard enough that architectures and hyperparameters matter, so
every helper takes the seeded ``numpy.random.Generator`` of the caller (one per
dataset, derived from the user's seed) and nothing here keeps global state.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: written at the root of every phantom so that prepare and the cards can say "phantom"
MARKER = ".medzoo-phantom.json"


def write_marker(out: Path, *, dataset_id: str, patients: int, seed: int) -> None:
    (out / MARKER).write_text(
        json.dumps({"dataset": dataset_id, "patients": patients, "seed": seed, "kind": "phantom"}) + "\n"
    )


def read_marker(raw: Path) -> dict | None:
    """The phantom marker of a raw folder, or None for real data."""
    p = Path(raw) / MARKER
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], *, scale: float, octaves: int = 3
) -> np.ndarray:
    """Zero-mean, unit-std band-limited noise (sum of blurred octaves); ``scale`` in pixels."""
    import cv2

    h, w = shape
    out = np.zeros(shape, np.float32)
    amp = 1.0
    for o in range(octaves):
        s = max(scale / (2**o), 1.0)
        f = max(int(s / 2), 1)  # draw coarse noise and upsample: same spectrum, a fraction of the cost
        small = rng.standard_normal((-(-h // f) + 2, -(-w // f) + 2), dtype=np.float32)
        k = int(s / f * 3) | 1
        small = cv2.GaussianBlur(small, (k, k), s / f)
        n = (
            cv2.resize(small, (w + 2 * f, h + 2 * f), interpolation=cv2.INTER_CUBIC)[f : f + h, f : f + w]
            if f > 1
            else small[1 : h + 1, 1 : w + 1]
        )
        out += amp * n
        amp *= 0.5
    out -= out.mean()
    std = out.std()
    return out / std if std > 0 else out


def bias_field(rng: np.random.Generator, shape: tuple[int, int], *, strength: float) -> np.ndarray:
    """A smooth multiplicative field around 1 (MRI coil shading, uneven illumination)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    r = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / max(h, w)
    return 1.0 + strength * (0.5 - r) * rng.uniform(0.5, 1.0)


def blob_mask(
    shape: tuple[int, int],
    center: tuple[float, float],
    radius: float,
    *,
    rng: np.random.Generator,
    irregularity: float = 0.0,
    elongation: float = 1.0,
    angle: float = 0.0,
    spikes: int = 0,
    spike_len: float = 0.0,
) -> np.ndarray:
    """Boolean mask of a star-shaped blob: an ellipse whose radius is perturbed by low-order harmonics.

    ``irregularity`` (0 = smooth) adds random harmonics 2..6; ``spikes`` adds thin
    radial spicules of relative length ``spike_len`` (spiculated margins).
    """
    h, w = shape
    coeffs = (
        [(irregularity / k * rng.uniform(-1, 1), k, rng.uniform(0, 2 * np.pi)) for k in range(2, 7)]
        if irregularity > 0
        else []
    )
    phases = rng.uniform(-np.pi, np.pi, spikes) if spikes > 0 and spike_len > 0 else np.zeros(0)
    # only the bounding window of the blob is computed: phantoms draw hundreds of them
    reach = radius * max(elongation, 1.0) * (1.0 + sum(abs(c) for c, _, _ in coeffs) + spike_len) + 2
    y0, y1 = max(int(center[0] - reach), 0), min(int(center[0] + reach) + 2, h)
    x0, x1 = max(int(center[1] - reach), 0), min(int(center[1] + reach) + 2, w)
    out = np.zeros(shape, bool)
    if y0 >= y1 or x0 >= x1:
        return out
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dy, dx = yy - center[0], xx - center[1]
    ca, sa = np.cos(angle), np.sin(angle)
    u = (dx * ca + dy * sa) / elongation
    v = -dx * sa + dy * ca
    theta = np.arctan2(v, u)
    r = np.sqrt(u**2 + v**2)
    rad = np.ones_like(theta)
    for c, k, ph in coeffs:
        rad += c * np.cos(k * theta + ph)
    for phase in phases:
        d = np.angle(np.exp(1j * (theta - phase)))
        rad += spike_len * np.exp(-((d / 0.06) ** 2))
    out[y0:y1, x0:x1] = r <= radius * np.maximum(rad, 0.2)
    return out


def soft(mask: np.ndarray, sigma: float) -> np.ndarray:
    """A float version of a boolean mask with blurred edges (partial-volume look)."""
    import cv2

    f = mask.astype(np.float32)
    if sigma <= 0:
        return f
    k = int(sigma * 4) | 1
    return cv2.GaussianBlur(f, (k, k), sigma)
