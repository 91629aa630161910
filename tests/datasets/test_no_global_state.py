"""The datasets part keeps no hidden global state and starts at once.

Phantoms, preprocessing and prepare seed only local generators (never numpy's or
OpenCV's process RNG, never OpenCV's thread count) and leave ``os.environ``
alone; ``import medzoo.datasets`` and ``medzoo datasets list`` load none of the
heavy libraries.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from medzoo import datasets
from medzoo.datasets.preprocess import background_mask_lab_kmeans


def _forbidden(*_args: object) -> None:
    raise AssertionError("process-wide state must not be changed by medzoo.datasets")


def test_phantoms_preprocessing_and_prepare_touch_no_process_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cv2, "setRNGSeed", _forbidden)
    monkeypatch.setattr(cv2, "setNumThreads", _forbidden)
    monkeypatch.setattr(np.random, "seed", _forbidden)
    state, environ = np.random.get_state()[1].copy(), dict(os.environ)
    for dataset_id in ("all-leukemia", "cbis-ddsm-mass", "chestxray14"):
        raw = datasets.synthesize(dataset_id, tmp_path / f"raw-{dataset_id}", patients=4, seed=1)
        datasets.prepare(dataset_id, raw, tmp_path / f"prepared-{dataset_id}", progress=False, image_size=32)
    assert np.array_equal(np.random.get_state()[1], state) and dict(os.environ) == environ


def test_background_removal_is_deterministic_per_seed_with_a_local_generator() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
    rgb[10:30, 10:30] = (92, 52, 128)
    a = background_mask_lab_kmeans(rgb, k=3, seed=4)
    b = background_mask_lab_kmeans(rgb, k=3, seed=4)
    assert np.array_equal(a, b) and a[20, 20] == 255


def test_import_and_datasets_list_load_no_heavy_library() -> None:
    code = (
        "import sys; from medzoo.cli import main\n"
        "try:\n    main(['datasets', 'list'])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = ('torch', 'timm', 'ray', 'pandas', 'cv2', 'pydicom', 'h5py', 'nibabel', 'scipy')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
