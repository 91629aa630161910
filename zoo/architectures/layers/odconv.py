"""ODConv, omni-dimensional dynamic convolution (Li et al., ICLR 2022), used by Dy-MBConv.

A bank of ``kernel_num`` kernels is mixed per sample by four attentions computed
from the pooled input: over the kernel's spatial positions, its input channels,
its output channels (filters) and the kernels themselves. With one kernel and all
attentions equal to 1 it is exactly ``nn.Conv2d``; depthwise use (groups ==
channels) drops the filter attention, which would duplicate the channel one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import register_notrace_module
from torch import nn

from medzoo.errors import ConfigError


class ODAttention(nn.Module):
    """GAP -> FC -> BN -> ReLU -> four heads (channel, filter, spatial, kernel)."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int,
        groups: int,
        kernel_num: int,
        *,
        reduction: float = 0.0625,
        min_hidden: int = 16,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        hidden = max(int(in_chs * reduction), min_hidden)
        self.temperature = temperature
        self.kernel_size, self.kernel_num = kernel_size, kernel_num
        self.fc = nn.Conv2d(in_chs, hidden, 1, bias=False)
        self.bn = nn.BatchNorm2d(hidden)
        self.channel_fc = nn.Conv2d(hidden, in_chs, 1)
        depthwise = in_chs == groups == out_chs
        self.filter_fc = None if depthwise else nn.Conv2d(hidden, out_chs, 1)
        self.spatial_fc = None if kernel_size == 1 else nn.Conv2d(hidden, kernel_size * kernel_size, 1)
        self.kernel_fc = None if kernel_num == 1 else nn.Conv2d(hidden, kernel_num, 1)

    def forward(self, x: torch.Tensor) -> tuple:
        h = F.relu(self.bn(self.fc(F.adaptive_avg_pool2d(x, 1))))
        t = self.temperature
        channel = torch.sigmoid(self.channel_fc(h).view(x.size(0), -1, 1, 1) / t)
        filt = (
            1.0 if self.filter_fc is None else torch.sigmoid(self.filter_fc(h).view(x.size(0), -1, 1, 1) / t)
        )
        spatial = 1.0
        if self.spatial_fc is not None:
            k = self.kernel_size
            spatial = torch.sigmoid(self.spatial_fc(h).view(x.size(0), 1, 1, 1, k, k) / t)
        kernel = 1.0
        if self.kernel_fc is not None:
            kernel = F.softmax(self.kernel_fc(h).view(x.size(0), -1, 1, 1, 1, 1) / t, dim=1)
        return channel, filt, spatial, kernel


@register_notrace_module  # a leaf for torch.fx: "same" padding depends on the map's (traced) size
class ODConv2d(nn.Module):
    """A dynamic ``Conv2d`` (no bias); ``padding="same"`` mirrors timm's TF-style dynamic padding."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int = 3,
        *,
        stride: int = 1,
        padding: int | str | None = None,
        dilation: int = 1,
        groups: int = 1,
        kernel_num: int = 4,
        reduction: float = 0.0625,
    ) -> None:
        super().__init__()
        if in_chs % groups or out_chs % groups:
            raise ConfigError(
                f"in_chs and out_chs must be divisible by groups, got in_chs={in_chs}, out_chs={out_chs}, "
                f"groups={groups}"
            )
        if kernel_num < 1:
            raise ConfigError(f"kernel_num >= 1 must hold, got kernel_num={kernel_num}")
        self.in_chs, self.out_chs, self.kernel_size = in_chs, out_chs, kernel_size
        self.stride, self.dilation, self.groups, self.kernel_num = stride, dilation, groups, kernel_num
        self.same = padding == "same"
        self.padding = (
            0
            if self.same
            else (((stride - 1) + dilation * (kernel_size - 1)) // 2 if padding is None else int(padding))
        )
        self.attention = ODAttention(in_chs, out_chs, kernel_size, groups, kernel_num, reduction=reduction)
        self.weight = nn.Parameter(
            torch.empty(kernel_num, out_chs, in_chs // groups, kernel_size, kernel_size)
        )
        for i in range(kernel_num):
            nn.init.kaiming_normal_(self.weight[i], mode="fan_out", nonlinearity="relu")

    @torch.no_grad()
    def load_from_conv(self, conv: nn.Conv2d) -> ODConv2d:
        """Start every kernel of the bank from a (pretrained) plain conv's weight."""
        self.weight.copy_(conv.weight.unsqueeze(0).expand_as(self.weight))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same:
            from timm.layers.padding import pad_same

            x = pad_same(
                x, (self.kernel_size, self.kernel_size), (self.stride, self.stride), (self.dilation,) * 2
            )
        channel, filt, spatial, kernel = self.attention(x)
        b, _, h, w = x.shape
        x = (x * channel).reshape(1, -1, h, w)
        weight = (
            (spatial * kernel * self.weight.unsqueeze(0)).sum(dim=1).expand(b, -1, -1, -1, -1)
        )  # (B, out, in/g, k, k)
        weight = weight.reshape(-1, self.in_chs // self.groups, self.kernel_size, self.kernel_size)
        out = F.conv2d(x, weight, None, self.stride, self.padding, self.dilation, self.groups * b)
        return out.view(b, self.out_chs, out.size(-2), out.size(-1)) * filt
