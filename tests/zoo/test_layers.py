"""The papers' layers: shapes, gradients, and equivalence to the plain layer when the change is off."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from medzoo.errors import ConfigError
from medzoo.zoo.architectures.layers import (
    DropBlock2d,
    DynamicReLU,
    ODConv2d,
    ShuffleAttentionResidual,
    linear_drop_rates,
)
from medzoo.zoo.architectures.layers.pool_shortcut import PoolShortcut
from medzoo.zoo.architectures.layers.sar import channel_shuffle

torch.manual_seed(0)


def _grads_flow(module: nn.Module, x: torch.Tensor) -> None:
    x = x.clone().requires_grad_(True)
    module(x).square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


# --- SAR -----------------------------------------------------------------------------


def test_sar_keeps_shape_and_passes_gradients() -> None:
    sar = ShuffleAttentionResidual(32, groups=8)
    x = torch.randn(2, 32, 9, 7)
    assert sar(x).shape == x.shape
    _grads_flow(sar, x)


def test_sar_is_identity_plus_attention_and_closed_gates_return_the_input() -> None:
    sar = ShuffleAttentionResidual(16, groups=4)
    with torch.no_grad():
        sar.norm.weight.zero_()
        sar.norm.bias.fill_(-1e4)  # sigmoid -> 0: nothing passes the attention branch
    x = torch.randn(2, 16, 5, 5)
    assert torch.allclose(sar(x), x)
    with torch.no_grad():
        sar.norm.bias.fill_(1e4)  # sigmoid -> 1: the branch passes x through, shuffled
    assert torch.allclose(sar(x), x + channel_shuffle(x, 4))


def test_channel_shuffle_interleaves_groups() -> None:
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]


def test_sar_rejects_even_kernel() -> None:
    with pytest.raises(ConfigError, match="kernel_size=4"):
        ShuffleAttentionResidual(8, kernel_size=4)


# --- DyDropBlock ------------------------------------------------------------------------


def test_drop_rates_rise_linearly_to_p_final() -> None:
    assert linear_drop_rates(4, p_final=0.2) == pytest.approx([0.05, 0.1, 0.15, 0.2])
    assert linear_drop_rates(2, p_start=0.1, p_final=0.3) == pytest.approx([0.2, 0.3])
    with pytest.raises(ConfigError, match="p_start=0.3, p_final=0.1"):
        linear_drop_rates(3, p_start=0.3, p_final=0.1)


def test_dropblock_is_identity_in_eval_and_at_p0() -> None:
    x = torch.randn(2, 4, 16, 16)
    assert torch.equal(DropBlock2d(0.3).eval()(x), x)
    assert torch.equal(DropBlock2d(0.0).train()(x), x)


def test_dropblock_gamma_follows_the_paper() -> None:
    block = DropBlock2d(0.1, block_size=3)
    assert block.gamma(16, 16) == pytest.approx(0.1 * 16 * 16 / (9 * 14 * 14))


def test_dropblock_drops_blocks_at_about_rate_p_and_rescales() -> None:
    torch.manual_seed(1)
    block = DropBlock2d(0.2, block_size=5).train()
    x = torch.ones(8, 16, 32, 32)
    y = block(x)
    dropped = (y == 0).float().mean().item()
    assert 0.12 < dropped < 0.28  # overlapping blocks make it approximate
    kept = y[y > 0]
    assert torch.allclose(kept, kept[0].expand_as(kept)) and kept[0] > 1  # kept units rescaled
    # dropped units come in contiguous blocks: a dropped pixel has dropped neighbours
    mask = (y[0, 0] == 0).float()
    neighbours = F.conv2d(mask[None, None], torch.ones(1, 1, 3, 3), padding=1)[0, 0]
    assert (neighbours[mask.bool()] >= 4).float().mean() > 0.9


# --- ODConv + Dynamic ReLU ------------------------------------------------------------------


@pytest.mark.parametrize("groups", [1, 8])
def test_odconv_with_one_kernel_and_unit_attention_is_conv2d(groups: int) -> None:
    od = ODConv2d(8, 8, 3, stride=2, groups=groups, kernel_num=1)
    od.attention.forward = lambda x: (1.0, 1.0, 1.0, 1.0)
    x = torch.randn(2, 8, 11, 11)
    expected = F.conv2d(x, od.weight[0], None, 2, 1, 1, groups)
    assert torch.allclose(od(x), expected, atol=1e-5)


def test_odconv_same_padding_matches_timm_conv2d_same() -> None:
    from timm.layers import create_conv2d

    conv = create_conv2d(8, 8, 3, stride=2, padding="same", depthwise=True)
    od = ODConv2d(8, 8, 3, stride=2, padding="same", groups=8, kernel_num=2).load_from_conv(conv)
    od.attention.forward = lambda x: (1.0, 1.0, 1.0, torch.full((x.size(0), 2, 1, 1, 1, 1), 0.5))
    x = torch.randn(2, 8, 12, 12)
    assert torch.allclose(od(x), conv(x), atol=1e-5)


def test_odconv_is_input_dependent_and_trains() -> None:
    od = ODConv2d(6, 10, 3, kernel_num=4)
    x = torch.randn(3, 6, 8, 8)
    y = od(x)
    assert y.shape == (3, 10, 8, 8)
    _grads_flow(od, x)
    # per-sample kernels: sample 0 alone gives the same result as inside the batch
    od.eval()
    assert torch.allclose(od(x[:1]), od(x)[:1], atol=1e-5)


def test_dynamic_relu_with_zero_residual_is_relu() -> None:
    act = DynamicReLU(12)
    with torch.no_grad():
        act.fc2.weight.zero_()
        act.fc2.bias.zero_()
    x = torch.randn(2, 12, 5, 5)
    assert torch.allclose(act(x), F.relu(x))


def test_dynamic_relu_shapes_and_gradients() -> None:
    act = DynamicReLU(16, reduction=4)
    x = torch.randn(2, 16, 6, 6)
    assert act(x).shape == x.shape
    _grads_flow(act, x)


# --- Xception-A shortcut --------------------------------------------------------------------


@pytest.mark.parametrize("size", [147, 74, 37, 19])
def test_pool_shortcut_matches_the_strided_conv_output_size(size: int) -> None:
    conv = nn.Conv2d(4, 6, 1, stride=2, bias=False)
    pooled = PoolShortcut.from_conv(conv)
    x = torch.randn(1, 4, size, size)
    assert pooled(x).shape == conv(x).shape
    assert torch.equal(pooled.conv.weight, conv.weight)
    # the pooled shortcut sees every pixel: a change at an odd position reaches it, not the strided conv
    x2 = x.clone()
    x2[..., 1, 1] += 100.0
    assert torch.equal(conv(x2), conv(x)) and not torch.equal(pooled(x2), pooled(x))
