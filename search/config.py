"""The trial's configuration: one frozen dataclass, validated from plain data.

Every key a recipe, a search space or ``--set`` may name is a field here; an
unknown key is an error naming the key and the allowed ones, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any

from medzoo.errors import ConfigError

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("none", "plateau", "cosine", "step")
BALANCE = ("none", "sampler", "loss_weights")


@dataclass(frozen=True)
class TrialConfig:
    """What one trial trains; defaults are a plain, small, CPU-friendly baseline."""

    family: str = "tiny_cnn"
    head: str | None = None  # None: the family's default head
    pretrained: bool = False
    dropout: float = 0.0
    freeze: int = 0  # leading freezable units of the family kept frozen
    hidden: tuple[int, ...] | None = None  # hidden widths of MLP heads
    image_size: int | None = None  # None: the family's input size
    augment: str = "light"  # a medzoo.datasets augmentation preset
    augment_strength: float = 1.0
    balance: str = "none"  # none | sampler (class-balanced sampling) | loss_weights
    loss: str = "ce"  # ce | focal | polyfocal | bce
    label_smoothing: float = 0.0
    focal_gamma: float = 2.0
    pos_weight: bool = False  # BCE positive weights from label frequencies
    optimizer: str = "adam"
    lr: float = 1e-3
    head_lr_mult: float = 1.0  # head lr = lr * head_lr_mult (glioma study: 10)
    weight_decay: float = 0.0
    momentum: float = 0.9  # SGD only
    schedule: str = "none"
    plateau_factor: float = 0.1
    plateau_patience: int = 5
    step_size: int = 10
    step_gamma: float = 0.1
    warmup_epochs: int = 0
    epochs: int = 10
    batch_size: int = 32
    early_stop_patience: int | None = None
    early_stop_metric: str = "val_metric"  # val_metric (the dataset's primary) | val_loss | val_<metric>
    min_delta: float = 0.0
    sequence: str | None = None  # brats19-grade: which MRI sequence's slices to train on
    seed: int = 0
    num_workers: int = 0

    def replace(self, **changes: Any) -> TrialConfig:
        return from_dict({**self.to_dict(), **changes}, where="replace()")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["hidden"] is not None:
            d["hidden"] = list(d["hidden"])
        return d


FIELDS = {f.name: f for f in dataclasses.fields(TrialConfig)}
_DEFAULTS = TrialConfig()


def check_keys(keys: Any, allowed: Any, *, where: str) -> None:
    """Raise on the first unknown key, naming it, where it came from and the allowed keys."""
    allowed = list(allowed)
    for key in keys:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=2, cutoff=0.6)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            raise ConfigError(
                f"unknown key {key!r} in {where}{hint}; allowed keys: {', '.join(sorted(allowed))}",
                fix="remove or rename the key",
            )


def coerce(key: str, value: Any, *, where: str) -> Any:
    """Check one value against the field's type; ints are accepted where floats are expected."""
    default = getattr(_DEFAULTS, key)
    ann = str(FIELDS[key].type)
    if value is None:
        if "None" in ann:
            return None
        raise ConfigError(f"{where}: {key} must not be null")
    if key == "hidden":
        if not isinstance(value, list | tuple) or not all(isinstance(v, int) and v > 0 for v in value):
            raise ConfigError(f"{where}: hidden must be a list of positive ints, got {value!r}")
        return tuple(value)
    if ann.startswith("bool"):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false, got {value!r}")
        return value
    if ann.startswith("float"):
        if isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: {key} must be a number, got {value!r}")
        return float(value)
    if ann.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {key} must be an integer, got {value!r}")
        return int(value)
    if (isinstance(default, str) or ann.startswith("str")) and not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string, got {value!r}")
    return value


def from_dict(data: dict[str, Any], *, where: str) -> TrialConfig:
    """Validate a flat mapping into a :class:`TrialConfig` (unknown keys and bad values raise)."""
    check_keys(data, FIELDS, where=where)
    cfg = TrialConfig(**{k: coerce(k, v, where=where) for k, v in data.items()})
    validate(cfg, where=where)
    return cfg


def validate(cfg: TrialConfig, *, where: str) -> None:
    def need(ok: bool, msg: str) -> None:
        if not ok:
            raise ConfigError(f"{where}: {msg}")

    need(cfg.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {cfg.optimizer!r}")
    need(cfg.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}, got {cfg.schedule!r}")
    need(cfg.balance in BALANCE, f"balance must be one of {BALANCE}, got {cfg.balance!r}")
    need(
        cfg.loss in ("ce", "focal", "polyfocal", "bce"),
        f"loss must be ce|focal|polyfocal|bce, got {cfg.loss!r}",
    )
    need(cfg.lr > 0, f"lr > 0 must hold, got lr={cfg.lr}")
    need(cfg.weight_decay >= 0, f"weight_decay >= 0 must hold, got weight_decay={cfg.weight_decay}")
    need(0 <= cfg.dropout < 1, f"0 <= dropout < 1 must hold, got dropout={cfg.dropout}")
    need(0 <= cfg.label_smoothing < 1, f"0 <= label_smoothing < 1 must hold, got {cfg.label_smoothing}")
    need(0 <= cfg.augment_strength <= 1, f"0 <= augment_strength <= 1 must hold, got {cfg.augment_strength}")
    need(cfg.epochs >= 1, f"epochs >= 1 must hold, got epochs={cfg.epochs}")
    need(cfg.batch_size >= 1, f"batch_size >= 1 must hold, got batch_size={cfg.batch_size}")
    need(cfg.freeze >= 0, f"freeze >= 0 must hold, got freeze={cfg.freeze}")
    need(cfg.warmup_epochs >= 0, f"warmup_epochs >= 0 must hold, got {cfg.warmup_epochs}")
    need(cfg.image_size is None or cfg.image_size >= 16, f"image_size >= 16 must hold, got {cfg.image_size}")
    need(0 < cfg.plateau_factor < 1, f"0 < plateau_factor < 1 must hold, got {cfg.plateau_factor}")
    need(cfg.step_size >= 1, f"step_size >= 1 must hold, got {cfg.step_size}")
    need(cfg.head_lr_mult > 0, f"head_lr_mult > 0 must hold, got {cfg.head_lr_mult}")
    need(
        cfg.early_stop_patience is None or cfg.early_stop_patience >= 1,
        f"early_stop_patience >= 1 (or null) must hold, got {cfg.early_stop_patience}",
    )
    need(
        cfg.early_stop_metric.startswith("val_"),
        f"early_stop_metric must start with 'val_', got {cfg.early_stop_metric!r}",
    )


def parse_sets(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["lr=1e-3", "family=tiny_cnn"]`` -> a dict; values parsed as YAML scalars, keys checked."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set takes key=value, got {pair!r}", fix="e.g. --set lr=3e-4")
        shown = pair.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        if shown != pair:  # undecodable bytes arrive from argv as lone surrogates
            raise ConfigError(f"--set '{shown}' is not valid UTF-8", fix="give the value as UTF-8 text")
        check_keys([key.strip()], FIELDS, where="--set")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
            raise ConfigError(
                f"--set {pair!r}: the value is not valid YAML ({problem})",
                fix="quote it, e.g. --set 'key=\"text\"', or fix the brackets",
            ) from None
    return out
