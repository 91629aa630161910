"""Signed Tune state: a save interrupted at any file of its upload resumes; tampering is never unpickled."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from medzoo.errors import SweepError
from medzoo.search.signing import (
    SEALED,
    SIGNATURES,
    SigningKey,
    seal_state,
    sign_stored,
    verify_folder,
    verify_or_recover,
)
from medzoo.storage import location


def _save(staging: Path, generation: int) -> None:
    """What one Tune save writes into its staging folder (the searcher pickle changes, a trial appears)."""
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "experiment_state-2026.json").write_text(json.dumps({"generation": generation}))
    (staging / "searcher-state-2026.pkl").write_bytes(b"searcher %d" % generation)
    (staging / f"t{generation}").mkdir(exist_ok=True)
    (staging / f"t{generation}" / "params.pkl").write_bytes(b"params %d" % generation)
    (staging / f"t{generation}" / "result.json").write_text("{}")


def _upload(staging: Path, tune: Path, stop_after: int | None = None) -> int:
    """Tune's upload: the staging files copied one by one; ``stop_after`` files, then the driver dies."""
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    for n, src in enumerate(files):
        if stop_after is not None and n == stop_after:
            return n
        dst = tune / src.relative_to(staging)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return len(files)


def _state(tune: Path) -> dict[str, bytes]:
    return {
        p.relative_to(tune).as_posix(): p.read_bytes()
        for p in tune.rglob("*")
        if p.is_file() and p.name not in (SIGNATURES, SEALED) and (p.parent == tune or p.suffix == ".pkl")
    }


def _top(state: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in state.items() if "/" not in k}


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    return SigningKey.load_or_create(tmp_path / "home")


def test_a_driver_killed_at_any_file_of_an_upload_leaves_state_that_resumes(
    tmp_path: Path, key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    base = tmp_path / "base"
    (base / "tune").mkdir(parents=True)
    (base / "tune" / "tuner.pkl").write_bytes(b"tuner")
    extra = sign_stored(location(base / "tune"), key)  # the new Tuner's tuner.pkl, written to storage
    staging = tmp_path / "staging"
    _save(staging, 1)
    seal_state(staging=staging, tune=location(base / "tune"), key=key, extra=extra)
    _upload(staging, base / "tune")
    first = _state(base / "tune")
    _save(staging, 2)
    files = _upload(staging, tmp_path / "count")
    interrupted = 0
    for stop in range(files + 1):  # the second save's upload stopped before each of its files
        tune = tmp_path / f"kill{stop}" / "tune"
        shutil.copytree(base / "tune", tune)
        seal_state(staging=staging, tune=location(tune), key=key, extra=extra)
        _upload(staging, tune, stop_after=stop)
        with caplog.at_level(logging.WARNING, logger="medzoo.search.signing"):
            caplog.clear()
            verify_or_recover(location(tune), key)
        verify_folder(tune, key)  # what resume unpickles is covered, whole
        top = {k: v for k, v in _state(tune).items() if "/" not in k}  # what Tune restores: one generation
        assert top in (_top(first), _top({"tuner.pkl": b"tuner", **_state(staging)})), stop
        interrupted += bool(caplog.records)
    assert interrupted > 0  # some stops did leave files the manifest in storage did not cover


def test_unsigned_newer_state_is_removed_and_named(
    tmp_path: Path, key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    tune, staging = tmp_path / "run" / "tune", tmp_path / "staging"
    tune.mkdir(parents=True)
    _save(staging, 1)
    seal_state(staging=staging, tune=location(tune), key=key)
    _upload(staging, tune)
    (tune / "experiment_state-2099.json").write_text(
        '{"_type": "CLOUDPICKLE_FALLBACK"}'
    )  # newest: Tune's pick
    (tune / "t1" / "params.pkl").write_bytes(b"changed")
    with caplog.at_level(logging.WARNING, logger="medzoo.search.signing"):
        verify_or_recover(location(tune), key)
    assert not (tune / "experiment_state-2099.json").exists()
    assert (tune / "t1" / "params.pkl").read_bytes() == b"params 1"
    log = caplog.text
    assert "experiment_state-2099.json" in log and "not signed" in log and "t1/params.pkl" in log
    verify_folder(tune, key)


def test_state_without_a_valid_seal_is_refused_and_left_as_it_is(tmp_path: Path, key: SigningKey) -> None:
    tune, staging = tmp_path / "run" / "tune", tmp_path / "staging"
    tune.mkdir(parents=True)
    _save(staging, 1)
    seal_state(staging=staging, tune=location(tune), key=key)
    _upload(staging, tune)
    (tune / "searcher-state-2026.pkl").write_bytes(b"planted")
    sealed = json.loads((tune / SEALED).read_text())
    for label, doc in {
        "data changed": {
            **sealed,
            "files": {
                **sealed["files"],
                "searcher-state-2026.pkl": {
                    **sealed["files"]["searcher-state-2026.pkl"],
                    "data": "cGxhbnRlZA==",
                },
            },
        },
        "file dropped": {
            **sealed,
            "files": {k: v for k, v in sealed["files"].items() if "searcher" not in k},
        },
        "not json": None,
    }.items():
        (tune / SEALED).write_text(json.dumps(doc) if doc else "{not json")
        with pytest.raises(SweepError, match=r"\.medzoo-sealed-state is not a sealed state written by your"):
            verify_or_recover(location(tune), key)
        assert (tune / "searcher-state-2026.pkl").read_bytes() == b"planted", label
    (tune / SEALED).unlink()  # no seal at all: the manifest decides, as before
    with pytest.raises(SweepError, match=r"searcher-state-2026\.pkl was not signed by your medzoo key"):
        verify_or_recover(location(tune), key)
    # a seal made with someone else's key does not count either
    other = SigningKey.load_or_create(tmp_path / "other")
    seal_state(staging=staging, tune=location(tune), key=other)
    with pytest.raises(SweepError, match="not a sealed state written by your medzoo key"):
        verify_or_recover(location(tune), key)
    assert (tune / "searcher-state-2026.pkl").read_bytes() == b"planted"


def test_the_first_save_is_sealed_through_tunes_live_trial_list(tmp_path: Path, key: SigningKey) -> None:
    """Tune calls on_step_begin with its trial list, adds the step's trials to it, then saves."""
    from types import SimpleNamespace

    from medzoo.search.tune_callbacks import SignState

    tune, staging = tmp_path / "run" / "tune", tmp_path / "staging"
    tune.mkdir(parents=True)
    signer = SignState(key.path, location(tune).uri)
    trials: list = []
    signer.on_step_begin(iteration=0, trials=trials)
    trials.append(SimpleNamespace(storage=SimpleNamespace(experiment_driver_staging_path=str(staging))))
    _save(staging, 1)
    assert signer.get_state() is None  # Tune writes no callback-state pickle for it
    assert (tune / SEALED).is_file() and (staging / SIGNATURES).is_file()
    assert set(json.loads((staging / SIGNATURES).read_text())["files"]) == set(_state(staging))
    restored = SignState.__new__(SignState)
    restored.__dict__.update(signer.__getstate__())  # what tuner.pkl carries: no secret, no trials
    assert restored.extra == {} and restored._trials is None and restored.key_path == str(key.path)
