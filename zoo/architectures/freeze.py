"""Freezing the first k units of a family (stem first): no gradients, BN statistics kept in eval."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from medzoo.errors import ConfigError


def unit_paths(unit: str) -> list[str]:
    """A unit is one or more module/parameter paths joined by '+' (e.g. a stem conv and its BN)."""
    return [p for p in unit.split("+") if p]


def freeze(model: nn.Module, units: Sequence[str], k: int, *, family: str = "") -> list[str]:
    """Freeze ``units[:k]`` of ``model``; returns the frozen paths (MedzooNet keeps them in eval)."""
    if not 0 <= k <= len(units):
        raise ConfigError(
            f"0 <= freeze <= {len(units)} must hold for family {family!r} (its freeze units: "
            f"{', '.join(units)}), got freeze={k}"
        )
    frozen: list[str] = []
    for unit in units[:k]:
        for path in unit_paths(unit):
            try:
                target = model.get_submodule(path)
                params = list(target.parameters())
                target.eval()
            except AttributeError:
                params = [model.get_parameter(path)]
            for p in params:
                p.requires_grad_(False)
            frozen.append(path)
    if hasattr(model, "frozen_units"):
        model.frozen_units = frozen
    return frozen
