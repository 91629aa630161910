"""medzoo.datasets: the six datasets from raw download to a leakage-safe prepared set.

Public API (docs/contracts.md): :func:`get`, :func:`ids`, :func:`synthesize`,
:func:`check`, :func:`prepare`, :func:`open`, :func:`read_info`,
:func:`read_manifest`, :func:`dedup_against`. Importing the package registers
every source (``sources/``); torch, pandas and the image decoders load only
when a function needs them, so listing the datasets starts at once.

Where things live:

- ``sources/<source>/``: one package per dataset: ``__init__.py`` holds its spec and
  reader (scan + load of the native layout), ``phantom.py`` its phantom writer;
  ``sources/__init__.py`` registers them.
- ``base.py``: the types every source fills in (DatasetSpec, RawRecord, Scan, ...).
- ``readers.py``: what the readers share (file finding, CSVs, class folders, keys).
- ``imaging.py``, ``matlab.py``, ``preprocess.py``, ``phantom.py``: image IO with
  header checks, MATLAB v7.3 files, the studies' preprocessing steps, drawing helpers.
- ``check.py``, ``prepare.py`` (with ``splits.py``, ``audit.py``, ``card.py``),
  ``synth.py``, ``dedup.py``, ``loader.py``, ``augment.py``: the generic pipeline.
- ``medzoo/formats/prepared.py``: the typed dataset.json and manifest schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from medzoo.datasets import sources  # noqa: F401  (importing registers the six sources)
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
