"""Issue 11, class 9 (sharing): phantoms and prepared sets follow the umask instead of being private (0700)."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(("umask", "dirs", "files"), [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_phantom_and_prepared_set_modes_follow_the_umask(
    tmp_path: Path, umask: int, dirs: int, files: int
) -> None:
    raw, out = tmp_path / "raw", tmp_path / "prepared"
    code = (
        f"import os; os.umask({umask}); from medzoo import datasets; "
        f"datasets.synthesize('chestxray14', {str(raw)!r}, patients=4, seed=0); "
        f"datasets.prepare('chestxray14', {str(raw)!r}, {str(out)!r}, progress=False, image_size=32)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    for root in (raw, out):
        found_dirs = {stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")] if p.is_dir()}
        found_files = {stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if p.is_file()}
        assert found_dirs == {dirs} and found_files == {files}, root
    assert {"dataset.json", "README.md", "manifest.parquet"} <= {p.name for p in out.iterdir()}
