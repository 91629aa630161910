"""The studies' classifier heads, options of every family (not copies of families).

Every head takes pooled features (B, C) and ends in a Linear named ``fc`` (an
Identity with ``num_classes=0``: timm's headless model), so
timm's classifier adaptation (``pretrained_cfg["classifier"] = "head.fc"``)
drops it when a checkpoint is loaded for another class count.

- ``linear``: GAP -> Linear (the timm default classifier).
- ``gap_dropout``: GAP -> Dropout -> Linear (brain EfficientNet study).
- ``mlp_bn``: GAP -> [Linear -> BN -> ReLU -> Dropout] x2 -> Linear (mammography Xception).
- ``fc_1024_128``: FC 1024 -> ReLU -> Dropout -> FC 128 -> ReLU -> Dropout -> FC (glioma GoogLeNet).
- ``fc_relu_dropout``: GAP -> FC -> ReLU -> Dropout -> FC (AERNet; hidden 512 by default).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from medzoo.errors import ConfigError

HEADS = ("linear", "gap_dropout", "mlp_bn", "fc_1024_128", "fc_relu_dropout")
_DEFAULT_HIDDEN = {"mlp_bn": (512, 256), "fc_1024_128": (1024, 128), "fc_relu_dropout": (512,)}


def resolve_hidden(head: str, hidden: int | Sequence[int] | None) -> tuple[int, ...]:
    """The hidden widths a head uses; errors say which heads take how many."""
    if head not in HEADS:
        import difflib

        close = difflib.get_close_matches(head, HEADS, n=2)
        raise ConfigError(
            f"head must be one of {', '.join(HEADS)}, got head={head!r}"
            + (f"; did you mean {close[0]!r}?" if close else "")
        )
    default = _DEFAULT_HIDDEN.get(head, ())
    if hidden is None:
        return default
    widths = (int(hidden),) if isinstance(hidden, int) else tuple(int(h) for h in hidden)
    if head == "fc_1024_128" and widths != default:
        raise ConfigError(
            f"head 'fc_1024_128' has fixed widths (1024, 128), got hidden={widths}; use 'mlp_bn'"
        )
    if len(widths) != len(default) or any(h < 1 for h in widths):
        raise ConfigError(
            f"head {head!r} takes {len(default)} positive hidden width(s), got hidden={hidden!r}"
        )
    return widths


class Head(nn.Module):
    """``body`` (possibly empty) then the final ``fc``; ``hidden_size`` is the width ``fc`` takes."""

    def __init__(self, body: nn.Module, fc: nn.Module, *, hidden_size: int) -> None:
        super().__init__()
        self.body = body
        self.fc = fc
        self.hidden_size = hidden_size

    def forward(self, x):
        return self.fc(self.body(x))


def build_head(
    head: str,
    in_features: int,
    num_classes: int,
    *,
    dropout: float = 0.0,
    hidden: int | Sequence[int] | None = None,
) -> Head:
    widths = resolve_hidden(head, hidden)
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"0 <= dropout < 1 must hold, got dropout={dropout}")
    if num_classes < 0:
        raise ConfigError(f"num_classes >= 0 must hold (0: no classifier), got num_classes={num_classes}")

    def fc(width: int) -> nn.Module:
        return nn.Linear(width, num_classes) if num_classes else nn.Identity()

    if head == "linear":
        if dropout:
            raise ConfigError(
                f"head 'linear' has no dropout, got dropout={dropout}; use head='gap_dropout' for GAP -> Dropout -> Linear"
            )
        return Head(nn.Identity(), fc(in_features), hidden_size=in_features)
    if head == "gap_dropout":
        return Head(nn.Dropout(dropout), fc(in_features), hidden_size=in_features)
    layers: list[nn.Module] = []
    width = in_features
    for h in widths:
        layers.append(nn.Linear(width, h))
        if head == "mlp_bn":
            layers.append(nn.BatchNorm1d(h))
        layers += [nn.ReLU(inplace=True), nn.Dropout(dropout)]
        width = h
    return Head(nn.Sequential(*layers), fc(width), hidden_size=width)
