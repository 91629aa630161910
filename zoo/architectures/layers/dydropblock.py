"""DyDropBlock: DropBlock whose drop rate rises linearly with depth (EfficientNet-DSP).

DropBlock drops contiguous beta x beta regions of a feature map, which regularises
convolutional features better than element-wise dropout (neighbouring activations
are correlated). The seed rate follows the paper:
gamma = p * w * h / (beta^2 * (w - beta + 1) * (h - beta + 1)); kept activations
are rescaled by the kept fraction. Identity in eval mode and for p = 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import register_notrace_module
from torch import nn

from medzoo.errors import ConfigError


def linear_drop_rates(depth: int, *, p_start: float = 0.0, p_final: float = 0.1) -> list[float]:
    """p(n) for n = 1..depth, rising linearly from p_start to p_final (the paper's schedule with p_start=0)."""
    if depth < 1:
        raise ConfigError(f"depth >= 1 must hold, got depth={depth}")
    if not (0.0 <= p_start <= p_final < 1.0):
        raise ConfigError(f"0 <= p_start <= p_final < 1 must hold, got p_start={p_start}, p_final={p_final}")
    return [p_start + (p_final - p_start) * n / depth for n in range(1, depth + 1)]


@register_notrace_module  # a leaf for torch.fx: its block size depends on the map's (traced) size
class DropBlock2d(nn.Module):
    """Drop beta x beta blocks with probability ``p`` per activation, in training only."""

    def __init__(self, p: float, *, block_size: int = 5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"0 <= p < 1 must hold for DropBlock, got p={p}")
        if block_size < 1:
            raise ConfigError(f"block_size >= 1 must hold, got block_size={block_size}")
        self.p = p
        self.block_size = block_size

    def extra_repr(self) -> str:
        return f"p={self.p:.4f}, block_size={self.block_size}"

    def gamma(self, h: int, w: int) -> float:
        """The Bernoulli seed rate for an h x w map (block clipped to the map)."""
        beta = min(self.block_size, h, w)
        return self.p * w * h / (beta**2 * (w - beta + 1) * (h - beta + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        _, _, h, w = x.shape
        beta = min(self.block_size, h, w)
        # seeds only where a whole block fits, then grow each seed to a beta x beta block
        seeds = torch.zeros_like(x)
        valid = (
            slice(None),
            slice(None),
            slice(beta // 2, h - (beta - 1) // 2),
            slice(beta // 2, w - (beta - 1) // 2),
        )
        seeds[valid] = torch.bernoulli(torch.full_like(seeds[valid], min(self.gamma(h, w), 1.0)))
        dropped = F.max_pool2d(seeds, kernel_size=beta, stride=1, padding=beta // 2)
        if beta % 2 == 0:  # even kernels pad one extra row/column
            dropped = dropped[:, :, :h, :w]
        keep = 1.0 - dropped
        return x * keep * (keep.numel() / keep.sum().clamp(min=1.0))
