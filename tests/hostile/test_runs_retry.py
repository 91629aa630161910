"""Issue 11 class 9 (retrying): a trial whose data cannot be read fails once, even with ``max_failures=2``.

Retrying reads the same broken bytes again, so it only costs time: the trial ends at its first failure
with status ERROR and the reason naming the file, and the sweep goes on with the other trials.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SPACE = """
base: glioma-googlenet
point: {family: tiny_cnn, pretrained: false, image_size: 32, epochs: 1, batch_size: 16, augment: none,
        lr: 3.0e-3, optimizer: adam, head_lr_mult: 1.0, sequence: t2}
space:
  sequence: {type: grid, values: [t1, t2]}
smoke:
  limit: {train: 48, val: 24, test: 24}
"""


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A local Ray of this module (never a cluster someone else started)."""
    from medzoo.cluster.connect import connect

    conn = connect(num_cpus=2)
    yield conn.address
    conn.close()


def _attempts(trial_dir: Path) -> int:
    """How many times Tune ran the trial and saw it fail (one ``Failure #`` line per failed attempt)."""
    error = trial_dir / "error.txt"
    return sum(ln.startswith("Failure #") for ln in error.read_text().splitlines()) if error.exists() else 0


def test_unreadable_data_is_not_retried(ray_cluster: str, prepared_phantom, tmp_path: Path) -> None:
    from medzoo.search import run

    prepared = tmp_path / "brats"
    shutil.copytree(prepared_phantom("brats19-grade"), prepared)
    manifest = pd.read_parquet(prepared / "manifest.parquet")
    victim = manifest[(manifest["split"] == "train") & (manifest["sequence"] == "t2")]["path"].iloc[0]
    (prepared / victim).write_bytes(b"\x89PNG truncated")
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    out = tmp_path / "run"
    table = run(
        prepared=prepared,
        space=space,
        out=out,
        samples=1,
        scheduler="fifo",
        search="random",
        smoke=True,
        max_failures=2,
        test_top_k=1,
        progress=False,
        resamples=50,
    )
    frame = table.frame
    broken = frame[frame["config.sequence"] == "t2"]
    assert len(broken) == 1 and list(broken["status"]) == ["ERROR"]
    assert Path(victim).name in broken["error"].iloc[0]  # the reason names the file
    assert _attempts(out / "tune" / broken["trial_id"].iloc[0]) == 1  # ran once, not 1 + max_failures
    fine = frame[frame["config.sequence"] == "t1"]
    assert list(fine["status"]) == ["TERMINATED"]
    assert _attempts(out / "tune" / fine["trial_id"].iloc[0]) == 0
