"""Complexity: exact MACs on hand-countable models, attention counted, skipped ops recorded, timm's figures."""

from __future__ import annotations

import pytest
import timm
import torch
import torch.nn.functional as F
from torch import nn

from medzoo.errors import ConfigError
from medzoo.zoo import create_model, measure
from medzoo.zoo.architectures.complexity import UNIT, count_macs


class _Attention(nn.Module):
    """q/k/v projections + fused attention, as timm's ViT blocks do."""

    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c)


class _Tokens(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = _Attention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, 16, H, W) -> tokens
        return self.attn(x.flatten(2).transpose(1, 2))


def test_conv_and_linear_macs_are_exact() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(8 * 10 * 10, 5))
    result = measure(model, (3, 10, 10), batch_sizes=(1, 2), repeats=2)
    assert result["gmacs"] * 1e9 == pytest.approx(8 * 3 * 9 * 100 + 800 * 5)
    assert result["params"] == 8 * 27 + 800 * 5 + 5 == result["trainable_params"]
    assert result["unit"] == UNIT and "multiply-accumulates" in result["unit"]
    assert result["op_coverage"] == 1.0
    assert set(result["latency_ms"]) == {"1", "2"} and all(v > 0 for v in result["latency_ms"].values())
    assert result["input_size"] == [3, 10, 10] and result["device"] in ("cpu", "cuda")


def test_fused_attention_is_counted() -> None:
    macs = count_macs(_Tokens(), (16, 3, 3))  # 9 tokens of width 16, 2 heads of 8
    n, c = 9, 16
    attention = 2 * n * n * (c // 2) * 2  # heads * (QK^T + AV)
    assert macs["macs_by_op"]["scaled_dot_product_attention"] * 1e9 == pytest.approx(attention)
    assert macs["gmacs"] * 1e9 == pytest.approx(n * c * 3 * c + attention)
    assert "aten::scaled_dot_product_attention" not in macs["skipped_ops"]
    assert macs["op_coverage"] == 1.0


def test_skipped_mac_ops_are_recorded_and_lower_coverage() -> None:
    class Baddbmm(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x[0]  # (2, 4, 4): a batch of two 4x4 matrices
            y = torch.baddbmm(x, x, x)  # fvcore has no handle for it
            return torch.bmm(y, x)

    macs = count_macs(Baddbmm(), (2, 4, 4))
    assert macs["skipped_ops"].get("aten::baddbmm") == 1
    assert macs["op_coverage"] == pytest.approx(0.5)


def test_frozen_parameters_are_not_trainable_and_model_mode_is_restored() -> None:
    model = create_model("tiny_cnn", num_classes=3, freeze=2)
    model.train()
    result = measure(model, (3, 32, 32), repeats=0)
    assert result["trainable_params"] < result["params"] and result["latency_ms"] == {}
    assert model.training


def test_bad_input_size_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"input_size must be \(C, H, W\)"):
        measure(nn.Identity(), (224, 224))


# --- full size, against published figures (a single traced forward each; no latency loops) -------------

#: timm's published GMACs at 224 (results/model_benchmark... and the model cards)
TIMM_GMACS = {
    "resnet50": 4.11,
    "efficientnet_b0": 0.40,
    "vgg16": 15.47,
    "vit_base_patch16_224": 17.58,
    "densenet121": 2.87,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TIMM_GMACS))
def test_gmacs_agree_with_timm_published_figures(name: str) -> None:
    model = timm.create_model(name)
    result = count_macs(model, (3, 224, 224))
    assert result["gmacs"] == pytest.approx(TIMM_GMACS[name], rel=0.02)
    assert result["op_coverage"] == 1.0
    if name == "vit_base_patch16_224":  # 12 blocks x 12 heads x (QK^T + AV) at 197 tokens of 64
        assert result["macs_by_op"]["scaled_dot_product_attention"] == pytest.approx(
            12 * 12 * 197 * 197 * 64 * 2 / 1e9
        )


@pytest.mark.slow
def test_resnet50_family_matches_the_reference_figures() -> None:
    model = create_model("resnet50", num_classes=1000)
    result = measure(model, (3, 224, 224), repeats=0)
    assert result["params"] / 1e6 == pytest.approx(25.56, abs=0.01)
    assert result["gmacs"] == pytest.approx(4.11, abs=0.01)
