"""The dataset sources, one package each: ``<source>/__init__.py`` holds the spec and the reader
(scan + load of the native layout), ``<source>/phantom.py`` the phantom writer in that layout.

Adding a source means writing one such package and listing its adapter in ``SOURCES``;
the generic pipeline (check, prepare, splits, audit, cards, loader) needs no change.
"""

from __future__ import annotations

from medzoo.datasets.base import DatasetAdapter, register_dataset
from medzoo.datasets.sources.all_leukemia import AllLeukemia
from medzoo.datasets.sources.brats19 import Brats19Grade
from medzoo.datasets.sources.cbis_ddsm import CbisDdsmMass
from medzoo.datasets.sources.chestxray14 import ChestXray14
from medzoo.datasets.sources.figshare_brain import FigshareBrain
from medzoo.datasets.sources.kaggle_brain import KaggleBrain

SOURCES: tuple[type[DatasetAdapter], ...] = (
    AllLeukemia,
    Brats19Grade,
    CbisDdsmMass,
    ChestXray14,
    FigshareBrain,
    KaggleBrain,
)

for _adapter in SOURCES:
    register_dataset(_adapter)
