"""Trial checkpoints without pickle: safetensors for tensors, JSON for everything else.

A checkpoint folder is also the trial's output folder (contracts "Runs"):
``model.safetensors`` (best weights so far), ``trial.json``, ``history.json``,
``val_metrics.json``, ``complexity.json``; plus the resume state
``last.safetensors`` (current weights), ``optimizer.safetensors`` +
``optimizer.json`` and ``state.json`` (epoch, schedule, early stopping).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from medzoo.errors import TrialError
from medzoo.paths import atomic_write_bytes, atomic_write_json

RESUME_FILES = ("last.safetensors", "optimizer.safetensors", "optimizer.json", "state.json")
OUTPUT_FILES = ("trial.json", "model.safetensors", "history.json", "val_metrics.json", "complexity.json")


def save_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    atomic_write_bytes(path, save(tensors))


def _regular_file(path: Path) -> Path:
    """A checkpoint may come from a run folder someone else wrote: never follow a link out of it."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        raise TrialError(
            f"{path} must be a regular file inside the checkpoint (it is a link or missing)",
            fix="delete the checkpoint and restart the trial",
        )
    return path


def read_json(path: Path) -> Any:
    """A checkpoint's JSON file; a missing, linked or malformed one is a TrialError naming it."""
    try:
        return json.loads(_regular_file(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrialError(
            f"cannot read {path}: {exc}", fix="delete the checkpoint and restart the trial"
        ) from None


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(_regular_file(path)))
    except TrialError:
        raise
    except Exception as exc:  # safetensors raises its own error types
        raise TrialError(
            f"cannot read weights {path}: {exc}", fix="delete the checkpoint and restart the trial"
        ) from exc


def optimizer_to_files(optimizer: torch.optim.Optimizer, folder: Path) -> None:
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, slot in sd["state"].items():
        for name, value in slot.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{name}"] = value.detach().to("cpu").contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    tmp = folder / ".optimizer.safetensors.partial"
    save_file(tensors, str(tmp))
    tmp.replace(folder / "optimizer.safetensors")
    atomic_write_json(folder / "optimizer.json", {"param_groups": sd["param_groups"], "scalars": scalars})


def optimizer_from_files(optimizer: torch.optim.Optimizer, folder: Path) -> None:
    """Optimiser state from safetensors + JSON (never a pickle); a malformed pair is a TrialError."""
    meta = read_json(folder / "optimizer.json")
    tensors = load_weights(folder / "optimizer.safetensors")
    state: dict[int, dict[str, Any]] = {}
    try:
        for key, value in tensors.items():
            idx, name = key.split(".", 1)
            state.setdefault(int(idx), {})[name] = value
        for idx, slot in meta["scalars"].items():
            state.setdefault(int(idx), {}).update(slot)
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise TrialError(
            f"the optimiser state in {folder} does not fit this trial's optimiser: {exc!r}",
            fix="delete the checkpoint and restart the trial",
        ) from None


def is_resumable(folder: Path | None) -> bool:
    return folder is not None and all((Path(folder) / f).exists() for f in RESUME_FILES)
