"""The scoring rules that search and the zoo must share: logits to probabilities, and the bootstrap.

Why one place: a trial scores its validation/test outputs, and a zoo entry later
scores the same model's outputs at prediction and for Grad-CAM. If the two rules
differed, a published entry would predict other probabilities than the ones its
metrics were measured on.

Probability convention (every part keeps it): multi-label tasks use one sigmoid
per label; a model with a single logit (a binary model written as one sigmoid
output) gives ``[1 - p, p]``; every other model uses a softmax over its logits,
so binary models with two logits have ``probs[:, 1]`` = positive probability.

Bootstrap: a percentile bootstrap over samples, drawn as multinomial *count
weights* (B, N) so that a statistic of 1000 resamples is a few matrix products.
Seeded through ``np.random.default_rng``; no process RNG is touched.

numpy is imported at module level (cheap); torch only inside :func:`probabilities`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from medzoo.errors import ConfigError

if TYPE_CHECKING:
    import torch

BOOTSTRAP_CHUNK = 250


def probabilities(logits: torch.Tensor, *, task: str) -> torch.Tensor:
    """(..., C) float32 probabilities from (..., C) logits under the convention above.

    A single-logit output becomes two columns ``[1 - p, p]`` (the contract's C = 2).
    """
    import torch

    logits = logits.float()
    if task == "multilabel":
        return torch.sigmoid(logits)
    if logits.shape[-1] == 1:
        p1 = torch.sigmoid(logits[..., 0])
        return torch.stack([1 - p1, p1], dim=-1)
    return torch.softmax(logits, dim=-1)


def _check_bootstrap(resamples: int, level: float) -> None:
    if not 0 < level < 1:
        raise ConfigError(f"0 < level < 1 must hold, got level={level}")
    if resamples < 1:
        raise ConfigError(f"resamples >= 1 must hold, got resamples={resamples}")


def bootstrap_weights(
    n: int, *, resamples: int, seed: int, chunk: int = BOOTSTRAP_CHUNK
) -> Iterator[np.ndarray]:
    """Yield (b, n) float count matrices, ``resamples`` rows in all: row r counts how often
    each of the n samples is drawn in resample r (n draws with replacement).

    Chunks keep memory at ``chunk * n``; the draws depend only on (n, resamples, seed, chunk).
    """
    if n < 1:
        raise ConfigError(f"a bootstrap needs at least one sample, got n={n}")
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(b, n))
        counts = np.bincount((idx + np.arange(b)[:, None] * n).ravel(), minlength=b * n)
        yield counts.reshape(b, n).astype(float)


def percentile_interval(draws: np.ndarray, *, level: float = 0.95) -> tuple[float | None, float | None]:
    """The (low, high) percentile interval of the finite draws; (None, None) when none is finite.

    A resample in which a statistic is undefined (NaN, e.g. no positive) is left out.
    """
    v = np.asarray(draws, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if not len(v):
        return None, None
    alpha = (1 - level) / 2
    lo, hi = np.quantile(v, [alpha, 1 - alpha])
    return finite_or_none(lo), finite_or_none(hi)


def bootstrap_mean(
    values: np.ndarray, *, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """{"value", "ci_low", "ci_high", "n"}: the mean of ``values`` with its percentile-bootstrap interval."""
    _check_bootstrap(resamples, level)
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        return {"value": None, "ci_low": None, "ci_high": None, "n": 0}
    means = np.concatenate(
        [w @ v / v.size for w in bootstrap_weights(v.size, resamples=resamples, seed=seed)]
    )
    lo, hi = percentile_interval(means, level=level)
    return {"value": float(v.mean()), "ci_low": lo, "ci_high": hi, "n": int(v.size)}


def bootstrap_statistics(
    statistic: Any, n: int, *, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, tuple[float | None, float | None]]:
    """Percentile intervals of several statistics computed from count weights at once.

    ``statistic(w)`` takes a (b, n) weight matrix and returns {name: (b,) values};
    returns {name: (ci_low, ci_high)}. This is what lets every metric of a test
    set share one set of resamples.
    """
    _check_bootstrap(resamples, level)
    draws: dict[str, list[np.ndarray]] = {}
    for w in bootstrap_weights(n, resamples=resamples, seed=seed):
        for name, values in statistic(w).items():
            draws.setdefault(name, []).append(np.asarray(values, dtype=float))
    return {name: percentile_interval(np.concatenate(chunks), level=level) for name, chunks in draws.items()}


def finite_or_none(x: Any) -> float | None:
    """A float, or None for NaN/inf (JSON has no NaN)."""
    x = float(x)
    return x if np.isfinite(x) else None
