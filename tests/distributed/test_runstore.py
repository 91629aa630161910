"""A run folder in S3: medzoo's files pushed and pulled back elsewhere (Tune's state: tests/search/test_signing.py)."""

from __future__ import annotations

from pathlib import Path

from distparts import S3

from medzoo.search.remote import RunStore
from medzoo.storage import location


def test_push_then_pull_into_another_folder(s3: S3, tmp_path: Path) -> None:
    remote = location(s3.uri("lab/runs/r1"))
    staging = tmp_path / "driver-a"
    (staging / "trials" / "t1").mkdir(parents=True)
    (staging / "run.json").write_text('{"dataset": "figshare-brain"}')
    (staging / "trials" / "t1" / "trial.json").write_text("{}")
    (staging / "tune").mkdir()
    (staging / "tune" / "local-only.txt").write_text("Tune writes its own state to storage")
    RunStore(remote=remote, staging=staging).push()
    assert sorted(rel for rel, _ in remote.walk()) == ["run.json", "trials/t1/trial.json"]

    elsewhere = RunStore(remote=remote, staging=tmp_path / "driver-b")  # another machine, only the URI
    elsewhere.pull()
    assert (tmp_path / "driver-b" / "run.json").read_text() == '{"dataset": "figshare-brain"}'
