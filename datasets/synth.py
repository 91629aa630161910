"""``synthesize``: write a phantom raw download in a dataset's native layout."""

from __future__ import annotations

from pathlib import Path

from medzoo.datasets.base import ADAPTERS
from medzoo.datasets.phantom import write_marker
from medzoo.errors import ConfigError
from medzoo.paths import atomic_dir


def synthesize(dataset_id: str, out: str | Path, *, patients: int = 24, seed: int = 0) -> Path:
    """Write a phantom of ``dataset_id`` under ``out`` (must not exist); deterministic for ``seed``.

    The folder appears only when complete, with a ``.medzoo-phantom.json`` marker
    at its root so that prepared sets and cards built on it say "phantom".
    """
    adapter = ADAPTERS.get(dataset_id)
    if patients < 1:
        raise ConfigError(f"patients >= 1 must hold, got patients={patients}")
    out = Path(out).expanduser().resolve()
    if out.exists() and any(out.iterdir()):
        raise ConfigError(
            f"{out} exists and is not empty; phantoms are written into a new folder",
            fix=f"choose another OUT or remove {out}",
        )
    if out.exists():
        out.rmdir()
    with atomic_dir(out) as tmp:
        adapter.synthesize(tmp, patients=patients, seed=seed)
        write_marker(tmp, dataset_id=dataset_id, patients=patients, seed=seed)
    return out
