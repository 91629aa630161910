"""SAR, residual shuffle attention (EfficientNet-DSP, the acute lymphoblastic leukaemia smear study).

Channels are split into groups; each group is average-pooled along H and along W,
a shared depthwise 1-D conv (kernel 7) + GroupNorm + sigmoid turns each profile
into an attention along that axis, the group is re-weighted by both, the groups
are shuffled so information crosses them, and the block input is added back.
It is a drop-in for timm's ``se_layer`` slot (it takes the channel count only).
"""

from __future__ import annotations

import torch
from torch import nn

from medzoo.errors import ConfigError


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, G*c, H, W) -> interleave the G groups channel by channel."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def _largest_divisor(channels: int, at_most: int) -> int:
    return max(g for g in range(1, at_most + 1) if channels % g == 0)


class ShuffleAttentionResidual(nn.Module):
    """``x + shuffle(x * a_h * a_w)`` with per-group axis attentions from 1-D convs."""

    def __init__(
        self,
        channels: int,
        *,
        groups: int = 8,
        kernel_size: int = 7,
        act_layer: object = None,
        device: object = None,
        dtype: object = None,
    ) -> None:
        """``act_layer`` is accepted for timm's se_layer slot and unused: SAR gates with a sigmoid."""
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        if channels < 1 or kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigError(
                f"SAR needs channels >= 1 and an odd kernel_size >= 1, got channels={channels}, "
                f"kernel_size={kernel_size}"
            )
        self.groups = _largest_divisor(channels, groups)
        c = channels // self.groups
        self.conv = nn.Conv1d(c, c, kernel_size, padding=kernel_size // 2, groups=c, bias=False, **dd)
        self.norm = nn.GroupNorm(_largest_divisor(c, 16), c, **dd)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, ch, h, w = x.shape
        g = x.reshape(b * self.groups, ch // self.groups, h, w)
        a_h = self.gate(self.norm(self.conv(g.mean(dim=3))))  # (B*G, c, H)
        a_w = self.gate(self.norm(self.conv(g.mean(dim=2))))  # (B*G, c, W)
        att = (g * a_h.unsqueeze(-1) * a_w.unsqueeze(-2)).reshape(b, ch, h, w)
        return x + channel_shuffle(att, self.groups)
