"""Learning-rate schedule and early stopping with plain, JSON-serialisable state.

Both live in a checkpoint's state.json (never pickle), so a resumed trial
continues with the same learning rate, the same patience counters and the same
best value it had when it stopped.
"""

from __future__ import annotations

import math
from typing import Any

from medzoo.errors import ConfigError

LOWER_IS_BETTER = ("val_loss", "val_ece")


def mode_of(metric: str) -> str:
    return "min" if metric in LOWER_IS_BETTER else "max"


class EarlyStopping:
    """Track the best value of ``monitor``; stop after ``patience`` epochs without improvement.

    ``patience=None`` never stops but still tracks the best epoch, whose weights
    the trial restores at the end (Keras' ``restore_best_weights``).
    """

    def __init__(self, monitor: str, *, patience: int | None, min_delta: float = 0.0) -> None:
        if min_delta < 0:
            raise ConfigError(f"min_delta >= 0 must hold, got min_delta={min_delta}")
        self.monitor, self.patience, self.min_delta = monitor, patience, float(min_delta)
        self.mode = mode_of(monitor)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def step(self, value: float, epoch: int) -> bool:
        """Record one epoch; True when it is the new best."""
        if value is None or not math.isfinite(value):
            improved = False
        elif self.best is None:
            improved = True
        elif self.mode == "max":
            improved = value > self.best + self.min_delta
        else:
            improved = value < self.best - self.min_delta
        if improved:
            self.best, self.best_epoch, self.bad_epochs = float(value), epoch, 0
        else:
            self.bad_epochs += 1
        return improved

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.bad_epochs = state["best"], state["best_epoch"], state["bad_epochs"]


class LRSchedule:
    """Per-epoch LR multiplier: linear warmup, then cosine | step | plateau | constant."""

    def __init__(
        self,
        kind: str,
        *,
        epochs: int,
        warmup_epochs: int = 0,
        step_size: int = 10,
        step_gamma: float = 0.1,
        plateau_factor: float = 0.1,
        plateau_patience: int = 5,
        min_delta: float = 0.0,
        monitor_mode: str = "max",
    ) -> None:
        if kind not in ("none", "plateau", "cosine", "step"):
            raise ConfigError(f"schedule must be none|plateau|cosine|step, got {kind!r}")
        self.kind, self.epochs, self.warmup = kind, epochs, warmup_epochs
        self.step_size, self.step_gamma = step_size, step_gamma
        self.plateau_factor, self.plateau_patience = plateau_factor, plateau_patience
        self.min_delta, self.monitor_mode = min_delta, monitor_mode
        self.plateau_scale = 1.0
        self.plateau_best: float | None = None
        self.plateau_bad = 0

    def factor(self, epoch: int) -> float:
        """Multiplier of the base LR for 0-based ``epoch``."""
        if epoch < self.warmup:
            return (epoch + 1) / (self.warmup + 1)
        e = epoch - self.warmup
        if self.kind == "cosine":
            span = max(self.epochs - self.warmup, 1)
            return 0.5 * (1 + math.cos(math.pi * min(e, span) / span))
        if self.kind == "step":
            return self.step_gamma ** (e // self.step_size)
        if self.kind == "plateau":
            return self.plateau_scale
        return 1.0

    def observe(self, value: float | None) -> None:
        """Feed the epoch's monitored value (plateau only)."""
        if self.kind != "plateau" or value is None or not math.isfinite(value):
            return
        better = (
            self.plateau_best is None
            or (self.monitor_mode == "max" and value > self.plateau_best + self.min_delta)
            or (self.monitor_mode == "min" and value < self.plateau_best - self.min_delta)
        )
        if better:
            self.plateau_best, self.plateau_bad = float(value), 0
        else:
            self.plateau_bad += 1
            if self.plateau_bad > self.plateau_patience:
                self.plateau_scale *= self.plateau_factor
                self.plateau_bad = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "plateau_scale": self.plateau_scale,
            "plateau_best": self.plateau_best,
            "plateau_bad": self.plateau_bad,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.plateau_scale = state["plateau_scale"]
        self.plateau_best = state["plateau_best"]
        self.plateau_bad = state["plateau_bad"]
