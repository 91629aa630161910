"""Xception-A's residual shortcut: 2x2 max-pool (stride 2) then a 1x1 conv, instead of a strided 1x1 conv.

A strided 1x1 conv reads one pixel in four; pooling first lets the shortcut see
all of them. ``ceil_mode`` keeps the output size of the strided conv it replaces
(odd sizes round up, as the main path's padded 3x3 max-pool does).
"""

from __future__ import annotations

import torch
from torch import nn


class PoolShortcut(nn.Module):
    def __init__(self, in_chs: int, out_chs: int, *, stride: int = 2) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(kernel_size=stride, stride=stride, ceil_mode=True)
        self.conv = nn.Conv2d(in_chs, out_chs, 1, bias=False)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> PoolShortcut:
        """Replace a strided 1x1 conv, keeping its (possibly pretrained) weights."""
        new = cls(conv.in_channels, conv.out_channels, stride=conv.stride[0])
        with torch.no_grad():
            new.conv.weight.copy_(conv.weight)
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))
