"""The contract every dataset adapter fulfils.

A dataset is a frozen :class:`DatasetSpec` plus an adapter that knows its native
on-disk layout(s): it can write a phantom in that layout (``synthesize``), find
every source item in a raw download and report every problem with its path
(``scan``), and turn one source item into preprocessed images (``load``). The
generic machinery (check, prepare, splits, leakage audit, the torch Dataset,
dataset cards) lives elsewhere in ``medzoo.datasets`` and works on these types
only, so adding a dataset means writing one adapter module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from medzoo.registry import Registry

Task = Literal["binary", "multiclass", "multilabel"]
SplitProtocol = Literal["patient", "image", "official"]


@dataclass(frozen=True)
class DatasetSpec:
    id: str
    title: str
    task: Task
    classes: tuple[str, ...]  # label order is a contract: label i is classes[i]
    modality: str  # e.g. "MRI (T1-CE)", "mammography", "chest X-ray", "blood smear microscopy"
    citation: str
    licence: str  # a note on the terms of use, not legal advice
    layouts: tuple[str, ...]  # the native layouts the reader accepts (names + one-line description)
    split_protocols: tuple[SplitProtocol, ...]  # what this dataset makes possible
    default_split: SplitProtocol
    has_patient_ids: bool
    has_masks: bool
    primary_metric: str  # "accuracy" | "auc" | "mean_auroc"
    secondary_metrics: tuple[str, ...]
    image_size: int  # side of the prepared square images
    channels: int  # 1 (grey) or 3 (RGB) in the prepared PNGs
    recipe: str | None  # the study's recipe id, if any
    eval_only: bool = False  # kaggle-brain-mri: cross-dataset evaluation only
    sequences: tuple[str, ...] = ()  # brats19-grade: the MRI sequences prepared per slice
    notes: tuple[str, ...] = ()  # protocol caveats that every card must carry

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a raw download, named by its path (relative to the raw root)."""

    path: str
    message: str
    fatal: bool = False  # True when it alone makes the set unusable (e.g. a missing CSV)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class RawRecord:
    """One source item found in a raw download, before preprocessing."""

    source: str  # path relative to the raw root; "outer.zip!inner.mat" for a member of a zip
    label: int  # index into spec.classes; -1 for multi-label
    labels: tuple[str, ...]  # label names (one for single-label, any number for multi-label)
    patient_id: str  # the image's own id where the dataset has no patients
    official_split: str | None = None  # "train" | "test" where the dataset defines one
    official_fold: int | None = None  # figshare cvind.mat fold (1..5)
    extra: dict[str, Any] = field(default_factory=dict)  # reader-specific (DICOM paths, UIDs, ...)


@dataclass
class Scan:
    records: list[RawRecord]
    problems: list[Problem]
    layout: str  # which native layout was recognised
    excluded: dict[str, int] = field(
        default_factory=dict
    )  # items left out on purpose, by reason (e.g. no_tumour)


@dataclass
class PreparedItem:
    """A preprocessed image from one source item (BraTS yields many per patient)."""

    key: str  # unique, filesystem-safe stem, e.g. "patient-100360_slice-07_t1"
    image: np.ndarray  # uint8, HxW (grey) or HxWx3 (RGB)
    mask: np.ndarray | None = None  # uint8 {0,255}, HxW, aligned with image
    columns: dict[str, Any] = field(default_factory=dict)  # extra manifest columns, e.g. sequence


class DatasetAdapter(ABC):
    spec: DatasetSpec
    #: the preprocessing steps and their parameters, as written to dataset.json
    default_params: dict[str, Any] = {}
    #: the smallest phantom that puts every class into every split; ``synthesize`` refuses fewer
    min_phantom_patients: int = 1

    @abstractmethod
    def synthesize(self, out: Path, *, patients: int, seed: int) -> None:
        """Write a phantom in the dataset's exact native layout under ``out`` (which exists, empty)."""

    @abstractmethod
    def scan(self, raw: Path) -> Scan:
        """Find every source item under ``raw``; report every problem, never raise on a bad file."""

    @abstractmethod
    def load(self, raw: Path, record: RawRecord, params: dict[str, Any]) -> list[PreparedItem]:
        """Read one source item and apply the study's preprocessing with ``params``.

        Raises :class:`medzoo.errors.DatasetFormatError` naming the file when it cannot be read.
        """


ADAPTERS: Registry[DatasetAdapter] = Registry("dataset")


def register_dataset(adapter_cls: type[DatasetAdapter]) -> type[DatasetAdapter]:
    """Instantiate and register an adapter under its spec id (``sources/__init__.py`` lists them all)."""
    adapter = adapter_cls()
    ADAPTERS.add(adapter.spec.id, adapter)
    return adapter_cls
