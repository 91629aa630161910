"""Issue 11 class 9 for the zoo store: revisions and refs.json follow the umask (a zoo shared by a team is
readable by the team), never mkdtemp's 0700 or mkstemp's 0600."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from entries_zoo import write_entry

from medzoo.storage import location
from medzoo.zoo.entries import store


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_published_revision_and_refs_follow_the_umask(tmp_path, umask):
    source = write_entry(tmp_path / "source")
    old = os.umask(umask)
    try:
        home = location(tmp_path / "zoo" / "figshare-brain" / "m")
        with store.new_revision(home) as (revision, tmp):
            shutil.copytree(source, tmp, dirs_exist_ok=True)
        pulled = store.pull("figshare-brain/m", zoo=tmp_path / "zoo", to=tmp_path / "pulled")
    finally:
        os.umask(old)
    folder = Path(home.uri) / revision
    for root in (folder, pulled):
        dirs = [root, *(p for p in root.rglob("*") if p.is_dir())]
        files = [p for p in root.rglob("*") if p.is_file()]
        assert dirs and files
        assert {_mode(d) for d in dirs} == {0o777 & ~umask}, root
        assert {_mode(f) for f in files} == {0o666 & ~umask}, root
    assert _mode(Path(home.uri) / "refs.json") == 0o666 & ~umask
