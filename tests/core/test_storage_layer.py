"""The filesystem layer: one code path for local folders and a real S3 server; links refused; atomic writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from medzoo.errors import FormatError, StorageError
from medzoo.storage import Location, check_reachable, location


def _tree(root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    (root / "top.txt").write_text("top")
    (root / "a" / "b" / "deep.bin").write_bytes(b"\x00\x01")


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_same_code_on_local_folders_and_s3(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    root = location(tmp_path / "store") if kind == "local" else location(request.getfixturevalue("s3_bucket"))
    check_reachable(root)
    (root / "runs/r1/run.json").write_text('{"x": 1}')
    assert (root / "runs" / "r1" / "run.json").read_text() == '{"x": 1}'
    assert (root / "runs/r1").is_dir() and (root / "runs/r1/run.json").is_file()
    with pytest.raises(StorageError, match="exists already"):
        (root / "runs/r1/run.json").write_text("other", replace=False)
    src = tmp_path / "src"
    _tree(src)
    (root / "up").upload_from(src)
    assert sorted(rel for rel, _ in (root / "up").walk()) == ["a/b/deep.bin", "top.txt"]
    back = (root / "up").download_to(tmp_path / "back")
    assert (back / "a" / "b" / "deep.bin").read_bytes() == b"\x00\x01"
    (root / "up").delete()
    assert not (root / "up" / "top.txt").exists()


def test_links_are_refused_at_any_depth(tmp_path: Path) -> None:
    _tree(tmp_path / "entry")
    os.symlink("/etc/passwd", tmp_path / "entry" / "a" / "b" / "leak.txt")
    with pytest.raises(StorageError, match="leak.txt is a symbolic link"):
        list(location(tmp_path / "entry").walk())
    with pytest.raises(StorageError, match="symbolic link"):
        location(tmp_path / "entry" / "a" / "b" / "leak.txt").read_bytes()
    os.symlink(tmp_path / "entry" / "a", tmp_path / "entry" / "alias")
    with pytest.raises(StorageError, match="alias is a symbolic link"):
        (location(tmp_path / "entry") / "alias" / "b" / "deep.bin").read_bytes(
            root=location(tmp_path / "entry")
        )
    with pytest.raises(StorageError, match="not a relative name"):
        location(tmp_path) / "../etc"


def test_writes_follow_the_umask_and_leave_nothing_partial(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        target = location(tmp_path / "shared" / "refs.json").write_text("{}")
        mode = stat.S_IMODE(os.stat(target.local_path()).st_mode)
        assert mode == 0o644
        (location(tmp_path / "tree")).upload_from(tmp_path / "shared")
        assert stat.S_IMODE(os.stat(tmp_path / "tree").st_mode) == 0o755
    finally:
        os.umask(old)
    assert [p.name for p in (tmp_path / "shared").iterdir()] == ["refs.json"]


def test_bad_locations_fail_early_with_the_fix(tmp_path: Path, s3_bucket: str, monkeypatch) -> None:
    with pytest.raises(StorageError, match="scheme 'ftp' is not supported"):
        location("ftp://host/x")
    with pytest.raises(StorageError, match="does not exist") as missing:
        check_reachable(location("s3://no-such-bucket-medzoo/x"))
    assert "mb" in (missing.value.fix or "")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    with pytest.raises(StorageError, match="unreachable"):
        check_reachable(location(f"{s3_bucket}/x"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match="not a writable folder"):
        check_reachable(location(tmp_path / "file" / "sub"))


def test_non_utf8_text_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_bytes(b'{"a": "\xff"}')
    with pytest.raises(FormatError, match="must be UTF-8 text; byte 0xff at offset 7"):
        location(tmp_path / "x.json").read_text()


def test_locations_pickle_for_ray_workers(s3_bucket: str) -> None:
    import pickle

    loc = location(s3_bucket) / "runs"
    copy: Location = pickle.loads(pickle.dumps(loc))
    (copy / "probe").write_text("seen")
    assert (loc / "probe").read_text() == "seen"
