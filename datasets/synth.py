"""``synthesize``: write a phantom raw download in a dataset's native layout."""

from __future__ import annotations

from pathlib import Path

from medzoo.datasets.base import ADAPTERS
from medzoo.datasets.phantom import write_marker
from medzoo.datasets.prepare import staged_dir
from medzoo.errors import ConfigError


def synthesize(dataset_id: str, out: str | Path, *, patients: int = 24, seed: int = 0) -> Path:
    """Write a phantom of ``dataset_id`` under ``out`` (must not exist); deterministic for ``seed``.

    The folder appears only when complete, with a ``.medzoo-phantom.json`` marker
    at its root so that prepared sets and cards built on it say "phantom".
    """
    adapter = ADAPTERS.get(dataset_id)
    least = max(1, adapter.min_phantom_patients)
    if patients < least:
        why = f" (a {dataset_id} phantom puts every class into every split)" if least > 1 else ""
        raise ConfigError(f"patients >= {least} must hold, got patients={patients}{why}", fix="--patients 24")
    out = Path(out).expanduser().resolve()
    if out.exists() and any(out.iterdir()):
        raise ConfigError(
            f"{out} exists and is not empty; phantoms are written into a new folder",
            fix=f"choose another OUT or remove {out}",
        )
    if out.exists():
        out.rmdir()
    with staged_dir(out) as tmp:  # appears complete, follows the umask, never replaces
        adapter.synthesize(tmp, patients=patients, seed=seed)
        write_marker(tmp, dataset_id=dataset_id, patients=patients, seed=seed)
    return out
