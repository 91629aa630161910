"""Issue 11 class 6 for the zoo store: concurrent publishers of one entry name get distinct revisions or
a clear error, never an overwrite; a failed publish leaves nothing visible."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from entries_zoo import read_json, write_entry

from medzoo.errors import ZooError
from medzoo.storage import location
from medzoo.zoo.entries import store

PUBLISHERS = 8


def _publish_copy(home, source: Path, tag: str) -> str:
    """One publisher: build a revision from ``source`` in its own temporary folder and commit it."""
    with store.new_revision(home) as (revision, tmp):
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        (tmp / "README.md").write_text(f"publisher {tag}")
    return revision


def test_concurrent_publishers_get_distinct_complete_revisions(tmp_path):
    source = write_entry(tmp_path / "source")
    home = location(tmp_path / "zoo" / "figshare-brain" / "m")
    with ThreadPoolExecutor(PUBLISHERS) as pool:
        revisions = list(pool.map(lambda k: _publish_copy(home, source, str(k)), range(PUBLISHERS)))
    assert sorted(revisions, key=lambda r: int(r[1:])) == [f"r{k}" for k in range(1, PUBLISHERS + 1)]
    folder = Path(home.uri)
    texts = {(folder / r / "README.md").read_text() for r in revisions}
    assert texts == {f"publisher {k}" for k in range(PUBLISHERS)}  # nobody's revision was overwritten
    assert read_json(folder / "refs.json") == {
        "latest": f"r{PUBLISHERS}",
        "revisions": sorted(revisions, key=lambda r: int(r[1:])),
    }
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".claim") or ".partial" in p.name]
    listing = store.list(zoo=tmp_path / "zoo", all_revisions=True)
    assert len(listing) == PUBLISHERS and listing.problems == ()


def test_a_revision_that_appeared_meanwhile_is_never_replaced(tmp_path):
    source = write_entry(tmp_path / "source")
    home = location(tmp_path / "zoo" / "figshare-brain" / "m")
    res = store.reserve_revision(home)
    # another machine on the shared mount (without claims) writes r1 in the meantime
    intruder = Path(home.uri) / res.revision
    shutil.copytree(source, intruder)
    (intruder / "README.md").write_text("theirs")
    with pytest.raises(ZooError, match="exists already") as info:
        store.commit_revision(res, source)
    assert "publish again" in (info.value.fix or "")
    res.release()
    assert (intruder / "README.md").read_text() == "theirs"
    assert store.next_revision(home) == "r2"


def test_a_failed_publish_commits_nothing_and_frees_its_claim(tmp_path):
    source = write_entry(tmp_path / "source")
    home = location(tmp_path / "zoo" / "figshare-brain" / "m")
    with pytest.raises(RuntimeError, match="disk full"), store.new_revision(home) as (_, tmp):
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        raise RuntimeError("disk full")
    assert [p.name for p in Path(home.uri).iterdir()] in ([], [".lock"])
    assert store.list(zoo=tmp_path / "zoo") == []
    # a revision folder that fails verification (tampered weights) is not committed either
    (source / "model.safetensors").write_bytes(b"tampered")
    with pytest.raises(ZooError, match="sha256"), store.new_revision(home) as (_, tmp):
        shutil.copytree(source, tmp, dirs_exist_ok=True)
    assert store.list(zoo=tmp_path / "zoo") == [] and store.next_revision(home) == "r1"


def test_leftovers_of_a_killed_publisher_are_cleaned_up(tmp_path):
    source = write_entry(tmp_path / "source")
    home = location(tmp_path / "zoo" / "figshare-brain" / "m")
    folder = Path(home.uri)
    folder.mkdir(parents=True)
    (folder / ".r1.claim").write_text("killed publisher")
    partial = folder / ".r1.partial-abc"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half")
    fresh = folder / ".r2.claim"
    fresh.write_text("a publisher still running")
    day_ago = os.stat(fresh).st_mtime - store.STALE_AFTER_S - 60
    for p in (folder / ".r1.claim", partial):
        os.utime(p, (day_ago, day_ago))
    assert _publish_copy(home, source, "new") == "r3"  # after the live claim r2; nothing is overwritten
    assert not (folder / ".r1.claim").exists() and not partial.exists()
    assert fresh.read_text() == "a publisher still running"
