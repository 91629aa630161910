"""medzoo.datasets: the six datasets from raw download to a leakage-safe prepared set.

Public API (docs/contracts.md): :func:`get`, :func:`ids`, :func:`synthesize`,
:func:`check`, :func:`prepare`, :func:`open`, :func:`read_info`,
:func:`read_manifest`, :func:`dedup_against`. Importing the package registers
every adapter; torch and albumentations load only when :func:`open` is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from medzoo.datasets import (  # noqa: F401  (importing registers the six adapters)
    all_leukemia,
    brats19,
    cbis_ddsm,
    chestxray14,
    figshare_brain,
    kaggle_brain,
)
from medzoo.datasets.base import ADAPTERS, DatasetAdapter, DatasetSpec
from medzoo.datasets.check import CheckReport, check
from medzoo.datasets.dedup import dedup_against
from medzoo.datasets.prepare import prepare, read_info, read_manifest
from medzoo.datasets.synth import synthesize

if TYPE_CHECKING:
    from medzoo.datasets.loader import PreparedDataset

__all__ = [
    "CheckReport",
    "adapter",
    "DatasetSpec",
    "check",
    "dedup_against",
    "get",
    "ids",
    "open",
    "prepare",
    "read_info",
    "read_manifest",
    "synthesize",
]


def get(dataset_id: str) -> DatasetSpec:
    """The frozen spec of ``dataset_id`` (unknown ids raise with the close matches)."""
    return ADAPTERS.get(dataset_id).spec


def adapter(dataset_id: str) -> DatasetAdapter:
    return ADAPTERS.get(dataset_id)


def ids() -> list[str]:
    return ADAPTERS.names()


def open(prepared: str | Path, **kwargs: Any) -> PreparedDataset:  # noqa: A001 - the contract's name
    """A torch Dataset over one split of a prepared folder; see :class:`loader.PreparedDataset`."""
    from medzoo.datasets.loader import PreparedDataset

    return PreparedDataset(prepared, **kwargs)
