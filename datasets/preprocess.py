"""The studies' preprocessing as named, parameterised step functions.

The brain study's ROI crop (figshare-brain, reused for kaggle-brain-mri) and the ALL study's
CIELAB k-means background removal (Ghaderzadeh et al. 2022) are written out here.

Each step is a pure function of arrays and parameters so it can be unit-tested
and its parameters written verbatim into dataset.json.
"""

from __future__ import annotations

import numpy as np

from medzoo.errors import ConfigError


def roi_crop(
    image: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    threshold: int = 50,
    blur: int = 5,
    erode: int = 2,
    dilate: int = 2,
    pad: int = 12,
) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int, int, int]]:
    """Figshare brain ROI crop (study 1): keep the bounding box of the head.

    grey uint8 -> pixels below ``threshold`` set to 0 -> ``blur`` x ``blur`` Gaussian
    blur -> binary threshold -> ``erode`` erosions, ``dilate`` dilations (3x3) ->
    largest external contour -> its bounding box padded by ``pad`` px (clipped) ->
    crop image and mask alike. Returns (image, mask, (x0, y0, x1, y1)); an image
    with no foreground is returned whole.
    """
    import cv2

    if image.dtype != np.uint8:
        raise ConfigError(f"roi_crop needs a uint8 image, got {image.dtype}; scale it with to_uint8 first")
    if not 0 <= threshold <= 255:
        raise ConfigError(f"0 <= threshold <= 255 must hold, got threshold={threshold}")
    if blur < 1 or blur % 2 == 0:
        raise ConfigError(f"blur must be an odd kernel size >= 1, got blur={blur}")
    if min(erode, dilate, pad) < 0:
        raise ConfigError(
            f"erode, dilate and pad must be >= 0, got erode={erode}, dilate={dilate}, pad={pad}"
        )
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    g = np.where(grey < threshold, 0, grey).astype(np.uint8)
    g = cv2.GaussianBlur(g, (blur, blur), 0)
    _, binary = cv2.threshold(g, threshold, 255, cv2.THRESH_BINARY)
    kernel = np.ones((3, 3), np.uint8)
    binary = cv2.erode(binary, kernel, iterations=erode)
    binary = cv2.dilate(binary, kernel, iterations=dilate)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    h, w = grey.shape
    if not contours:
        return image, mask, (0, 0, w, h)
    x, y, bw, bh = cv2.boundingRect(max(contours, key=cv2.contourArea))
    x0, y0 = max(x - pad, 0), max(y - pad, 0)
    x1, y1 = min(x + bw + pad, w), min(y + bh + pad, h)
    crop_mask = mask[y0:y1, x0:x1] if mask is not None else None
    return image[y0:y1, x0:x1], crop_mask, (x0, y0, x1, y1)


def background_mask_lab_kmeans(
    rgb: np.ndarray,
    *,
    k: int = 3,
    attempts: int = 3,
    seed: int = 0,
    close: int = 5,
    stride: int = 3,
    merge: float = 20.0,
) -> np.ndarray:
    """ALL background removal (study 2): CIELAB k-means, keep the stained (darkest) cluster.

    RGB -> CIELAB; k-means (``k`` clusters) fitted on every ``stride``-th pixel (the
    centres of a smear are stable under subsampling), every pixel assigned to its
    nearest centre; the cluster with
    the lowest L (purple-stained lymphoblast nuclei and cytoplasm) is the foreground,
    together with any cluster whose centre lies within ``merge`` (8-bit Lab units) of
    it (k-means splits a uniform cell in two when a field has fewer colours than k);
    a ``close`` x ``close`` morphological closing fills chromatin holes. Returns a uint8
    {0, 255} mask. Deterministic for ``seed``.
    """
    import cv2

    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ConfigError(f"background removal needs an RGB HxWx3 image, got shape {rgb.shape}")
    if k < 2:
        raise ConfigError(f"k >= 2 must hold, got k={k}")
    if stride < 1:
        raise ConfigError(f"stride >= 1 must hold, got stride={stride}")
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    centres = kmeans(lab[::stride], k, attempts=attempts, rng=np.random.default_rng(seed))
    labels = ((lab[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    darkest = centres[int(np.argmin(centres[:, 0]))]
    fg = np.flatnonzero(np.linalg.norm(centres - darkest, axis=1) <= merge)
    mask = np.isin(labels.reshape(rgb.shape[:2]), fg).astype(np.uint8) * 255
    if close > 1:
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((close, close), np.uint8))
    return mask


def kmeans(
    points: np.ndarray,
    k: int,
    *,
    attempts: int,
    rng: np.random.Generator,
    iterations: int = 20,
    eps: float = 0.5,
) -> np.ndarray:
    """k-means++ seeded Lloyd iterations; the centres (k, D) of the most compact of ``attempts`` runs.

    Written out with a local generator instead of ``cv2.kmeans``, whose seeding is
    OpenCV's process-wide RNG (``cv2.setRNGSeed``): a library must not reseed it.
    Stops when no centre moves more than ``eps``, after ``iterations`` at most.
    """
    pts = np.asarray(points, np.float64)
    best: tuple[float, np.ndarray] | None = None
    for _ in range(max(attempts, 1)):
        centres = _kmeans_pp(pts, k, rng)
        for _ in range(iterations):
            labels = _nearest(pts, centres)
            moved = np.array(
                [pts[labels == j].mean(axis=0) if (labels == j).any() else centres[j] for j in range(k)]
            )
            shift, centres = float(np.abs(moved - centres).max()), moved
            if shift <= eps:
                break
        labels = _nearest(pts, centres)
        compactness = float(((pts - centres[labels]) ** 2).sum())
        if best is None or compactness < best[0]:
            best = (compactness, centres)
    assert best is not None
    return best[1].astype(np.float32)


def _nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)


def _kmeans_pp(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ initial centres: each next one drawn with probability proportional to D(x)^2."""
    centres = [points[int(rng.integers(len(points)))]]
    d2 = ((points - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = d2.sum()
        i = int(rng.choice(len(points), p=d2 / total)) if total > 0 else int(rng.integers(len(points)))
        centres.append(points[i])
        d2 = np.minimum(d2, ((points - points[i]) ** 2).sum(axis=1))
    return np.array(centres)


def apply_mask(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """AND the mask with the image: background pixels become 0."""
    keep = mask > 0
    return image * (keep[..., None] if image.ndim == 3 else keep).astype(image.dtype)
