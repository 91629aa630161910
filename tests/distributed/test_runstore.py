"""A run folder in S3: medzoo's files pushed and pulled back elsewhere; Tune's state signed and verified."""

from __future__ import annotations

from pathlib import Path

import pytest
from distparts import S3

from medzoo.errors import SweepError
from medzoo.search.remote import RunStore
from medzoo.search.signing import SigningKey
from medzoo.storage import location


def test_push_then_pull_into_another_folder_and_signed_state_verifies(s3: S3, tmp_path: Path) -> None:
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

    key = SigningKey.load_or_create(tmp_path / "home")
    (remote / "tune" / "tuner.pkl").write_bytes(b"pickle written by Tune")
    (remote / "tune" / "t1" / "params.pkl").write_bytes(b"trial params")
    (remote / "tune" / "t1" / "checkpoint_000001" / "model.safetensors").write_bytes(b"weights")
    macs = elsewhere.sign_state(key)
    assert sorted(macs) == ["t1/params.pkl", "tuner.pkl"]
    elsewhere.verify_state(key)

    (remote / "tune" / "tuner.pkl").write_bytes(b"someone else's pickle")
    with pytest.raises(SweepError, match="tuner.pkl was not signed by your medzoo key"):
        elsewhere.verify_state(key)
