"""The studies' own layers, one small module each (timm's SE/ECA/CBAM are used where they fit)."""

from medzoo.zoo.architectures.layers.dydropblock import DropBlock2d, linear_drop_rates
from medzoo.zoo.architectures.layers.dyrelu import DynamicReLU
from medzoo.zoo.architectures.layers.odconv import ODConv2d
from medzoo.zoo.architectures.layers.sar import ShuffleAttentionResidual

__all__ = ["DropBlock2d", "DynamicReLU", "ODConv2d", "ShuffleAttentionResidual", "linear_drop_rates"]
