"""The shared scoring rules (medzoo.scoring): probabilities convention and the bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medzoo.errors import ConfigError
from medzoo.scoring import bootstrap_mean, bootstrap_statistics, bootstrap_weights, probabilities


def test_probabilities_follow_the_convention() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0]])
    soft = probabilities(logits, task="multiclass")
    assert torch.allclose(soft, torch.softmax(logits, dim=1))
    assert torch.allclose(soft.sum(dim=1), torch.ones(2))
    multi = probabilities(logits, task="multilabel")
    assert torch.allclose(multi, torch.sigmoid(logits))
    # binary with two logits: softmax, probs[:, 1] = sigmoid(l1 - l0)
    two = probabilities(logits[:, :2], task="binary")
    assert torch.allclose(two[:, 1], torch.sigmoid(logits[:, 1] - logits[:, 0]))
    # binary with a single logit: [1 - p, p]
    one = probabilities(torch.tensor([[0.0], [3.0]]), task="binary")
    assert one.shape == (2, 2)
    assert torch.allclose(one[:, 1], torch.sigmoid(torch.tensor([0.0, 3.0])))
    assert torch.allclose(one.sum(dim=1), torch.ones(2))
    assert probabilities(logits.half(), task="multiclass").dtype == torch.float32


def test_bootstrap_weights_are_multinomial_counts_and_seeded() -> None:
    chunks = list(bootstrap_weights(7, resamples=600, seed=1))
    w = np.concatenate(chunks)
    assert w.shape == (600, 7) and [len(c) for c in chunks] == [250, 250, 100]
    assert np.all(w.sum(axis=1) == 7)
    again = np.concatenate(list(bootstrap_weights(7, resamples=600, seed=1)))
    assert np.array_equal(w, again)
    assert not np.array_equal(w, np.concatenate(list(bootstrap_weights(7, resamples=600, seed=2))))


def test_bootstrap_mean_brackets_the_mean_and_rejects_bad_levels() -> None:
    v = np.random.default_rng(0).normal(1.0, 1.0, size=400)
    ci = bootstrap_mean(v, seed=3)
    assert ci["ci_low"] < ci["value"] < ci["ci_high"] and ci["n"] == 400
    assert ci == bootstrap_mean(v, seed=3)
    assert abs((ci["ci_high"] - ci["ci_low"]) - 2 * 1.96 / 20) < 0.05  # ~ 2 * 1.96 * sd / sqrt(n)
    assert bootstrap_mean(np.array([]))["value"] is None
    with pytest.raises(ConfigError, match="level"):
        bootstrap_mean(v, level=1.5)
    with pytest.raises(ConfigError, match="resamples"):
        bootstrap_mean(v, resamples=0)


def test_bootstrap_statistics_leaves_undefined_resamples_out() -> None:
    def stat(w: np.ndarray) -> dict[str, np.ndarray]:
        return {"always_nan": np.full(len(w), np.nan), "total": w.sum(axis=1)}

    out = bootstrap_statistics(stat, 5, resamples=100, seed=0)
    assert out["always_nan"] == (None, None)
    assert out["total"] == (5.0, 5.0)
