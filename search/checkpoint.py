"""Trial checkpoints without pickle: safetensors for tensors, JSON for everything else.

A checkpoint folder is also the trial's output folder (contracts "Runs"):
``model.safetensors`` (best weights so far), ``trial.json``, ``history.json``,
``val_metrics.json``, ``complexity.json``; plus the resume state
``last.safetensors`` (current weights), ``optimizer.safetensors`` +
``optimizer.json`` and ``state.json`` (epoch, schedule, early stopping).
"""

from __future__ import annotations

import json
import shutil
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


def _optimizer_parts(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors for safetensors, JSON metadata) of the optimiser's state: no pickle anywhere."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, slot in sd["state"].items():
        for name, value in slot.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{name}"] = value.detach().to("cpu").contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_to_files(optimizer: torch.optim.Optimizer, folder: Path) -> None:
    tensors, meta = _optimizer_parts(optimizer)
    tmp = folder / ".optimizer.safetensors.partial"
    save_file(tensors, str(tmp))
    tmp.replace(folder / "optimizer.safetensors")
    atomic_write_json(folder / "optimizer.json", meta)


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


class EpochCheckpoint:
    """The folder a trial hands ``report`` every epoch, kept for the whole trial and updated in place.

    Why: writing the complete folder afresh every epoch (a new temporary folder, each
    file through the atomic-write layer, the trial record validated again, the best
    weights re-serialised although they had not changed) took ~12% of a small model's
    epoch (cProfile of ``report_epoch``). The folder is private to this process (a fresh
    ``mkdtemp``) and only ``report`` reads it, copying it before it returns (Tune and
    ``medzoo train`` copy, never move), so the folder as a whole is the temporary
    sibling: files are written in place, and a file is rewritten only when its content
    changed: ``trial.json`` and
    ``complexity.json`` once, ``model.safetensors`` when the best epoch changed;
    ``last.safetensors``, the optimiser, ``state.json``, ``history.json`` and
    ``val_metrics.json`` every epoch. Every reported folder is complete and resumable.
    """

    def __init__(self) -> None:
        import tempfile

        self.path = Path(tempfile.mkdtemp(prefix="medzoo-ckpt-"))
        self._keys: dict[str, Any] = {}

    def stale(self, name: str, key: Any) -> bool:
        """Whether ``name`` must be (re)written: ``key`` identifies its content (None: always)."""
        return key is None or self._keys.get(name, _UNSET) != key

    def put_bytes(self, name: str, data: bytes, *, key: Any = None) -> None:
        # written in place: nobody reads the folder between reports (``report`` copies it before it
        # returns), and a renamed sibling cost a rename per file per epoch (the slowest step, profiled)
        self._keys.pop(name, None)  # a failed write leaves the file stale, never marked current
        with open(self.path / name, "wb") as fh:
            fh.write(data)
        self._keys[name] = key

    def put_json(self, name: str, obj: Any, *, key: Any = None) -> None:
        self.put_bytes(name, (json.dumps(obj, indent=2, default=_json_default) + "\n").encode(), key=key)

    def put_weights(self, name: str, state: dict[str, torch.Tensor], *, key: Any = None) -> None:
        from safetensors.torch import save

        # a copy per tensor: tied weights share storage, which safetensors refuses to save
        tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}
        self.put_bytes(name, save(tensors), key=key)

    def put_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.safetensors`` + ``optimizer.json``, the same pair :func:`optimizer_to_files` writes."""
        from safetensors.torch import save

        tensors, meta = _optimizer_parts(optimizer)
        self.put_bytes("optimizer.safetensors", save(tensors))
        self.put_json("optimizer.json", meta)

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


_UNSET = object()


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):  # numpy scalars and arrays in metrics
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
