"""Dynamic ReLU (DY-ReLU-B, Chen et al. 2020), the activation of Dy-MBConv blocks.

Per channel, ``y = max_k(a_k * x + b_k)`` with the K slopes and intercepts
predicted from the pooled input: ``coef = init + lambda * (2 sigmoid(fc(x)) - 1)``.
With the predicted residual at zero it is exactly ``ReLU`` (a = (1, 0), b = (0, 0)).
"""

from __future__ import annotations

import torch
from torch import nn

from medzoo.errors import ConfigError


class DynamicReLU(nn.Module):
    def __init__(
        self, channels: int, *, reduction: int = 16, k: int = 2, lambda_a: float = 1.0, lambda_b: float = 0.5
    ) -> None:
        super().__init__()
        if channels < 1 or k < 1 or reduction < 1:
            raise ConfigError(f"channels, k, reduction >= 1 must hold, got {channels}, {k}, {reduction}")
        self.channels, self.k = channels, k
        hidden = max(channels // reduction, 4)
        self.fc1 = nn.Linear(channels, hidden)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, 2 * k * channels)
        self.register_buffer("lambdas", torch.tensor([lambda_a] * k + [lambda_b] * k), persistent=False)
        self.register_buffer("init_v", torch.tensor([1.0] + [0.0] * (2 * k - 1)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        theta = 2 * torch.sigmoid(self.fc2(self.act(self.fc1(x.mean(dim=(2, 3)))))) - 1
        coef = theta.view(b, c, 2 * self.k) * self.lambdas + self.init_v  # (B, C, 2K)
        a = coef[..., : self.k].view(b, c, 1, 1, self.k)
        bias = coef[..., self.k :].view(b, c, 1, 1, self.k)
        return (x.unsqueeze(-1) * a + bias).amax(dim=-1)
