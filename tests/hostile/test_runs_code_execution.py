"""Resuming a run never unpickles Tune state that the user's own medzoo did not sign."""

from __future__ import annotations

import json
import os
import pickle
import stat
from pathlib import Path

import pytest

from medzoo.errors import SweepError
from medzoo.search import resume
from medzoo.search.signing import SIGNATURES, SigningKey, sign_folder, verify_folder


class _Planted:
    """Unpickling this creates the marker file: the stand-in for someone else's code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _run_folder(tmp_path: Path, marker: Path, run_json: dict) -> Path:
    run = tmp_path / "run"
    (run / "tune" / "t0001").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({**run_json, "prepared": str(tmp_path / "prepared")}))
    (run / "tune" / "tuner.pkl").write_bytes(pickle.dumps(_Planted(marker)))
    (run / "tune" / "experiment_state-2026.json").write_text("{}")
    (run / "tune" / "t0001" / "params.pkl").write_bytes(pickle.dumps({"lr": 0.1}))
    (run / "tune" / "t0001" / "result.json").write_text("{}")
    return run


def test_the_key_is_private_and_stable(tmp_path: Path) -> None:
    key = SigningKey.load_or_create(tmp_path / "home")
    assert key.path == tmp_path / "home" / "keys" / "run-signing.key"
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.path.parent.stat().st_mode) == 0o700
    assert SigningKey.load_or_create(tmp_path / "home") == key and "secret" not in repr(key)
    key.path.chmod(0o644)
    with pytest.raises(SweepError, match="accessible to other users") as err:
        SigningKey.load_or_create(tmp_path / "home")
    assert "chmod 600" in (err.value.fix or "")


def test_a_planted_tuner_pkl_is_refused_and_never_unpickled(tmp_path: Path, run_json: dict) -> None:
    marker = tmp_path / "pwned"
    run = _run_folder(tmp_path, marker, run_json)
    key = SigningKey.load_or_create(tmp_path / "home")
    with pytest.raises(SweepError, match="no medzoo signatures") as err:
        resume(run, signing_key=key, progress=False)
    assert "not written by you" in (err.value.fix or "") and "--out NEW" in err.value.fix
    # signed by someone else's key: refused, naming the file
    (run / "tune" / "experiment_state-2026.json").unlink()
    sign_folder(run / "tune", SigningKey.load_or_create(tmp_path / "other-home"))
    with pytest.raises(SweepError, match=r"tuner\.pkl was not signed by your medzoo key"):
        resume(run, signing_key=key, progress=False)
    assert not marker.exists()


def test_signed_state_verifies_and_any_change_is_named(tmp_path: Path, run_json: dict) -> None:
    marker = tmp_path / "pwned"
    run = _run_folder(tmp_path, marker, run_json)
    tune = run / "tune"
    key = SigningKey.load_or_create(tmp_path / "home")
    macs = sign_folder(tune, key)
    assert set(macs) == {"tuner.pkl", "experiment_state-2026.json", "t0001/params.pkl"}  # not result.json
    verify_folder(tune, key)
    (tune / "t0001" / "result.json").write_text('{"changed": 1}')  # not state: Tune never unpickles it
    verify_folder(tune, key)
    (tune / "experiment_state-2026.json").write_text('{"_type": "CLOUDPICKLE_FALLBACK"}')
    with pytest.raises(SweepError, match=r"experiment_state-2026\.json was not signed"):
        verify_folder(tune, key)
    sign_folder(tune, key)
    (tune / "t0001" / "extra.pkl").write_bytes(b"x")
    with pytest.raises(SweepError, match=r"t0001/extra\.pkl was not signed"):
        verify_folder(tune, key)
    (tune / "t0001" / "extra.pkl").unlink()
    os.symlink("/etc/passwd", tune / "searcher-state-1.pkl")
    with pytest.raises(SweepError, match="symbolic link"):
        verify_folder(tune, key)
    (tune / "searcher-state-1.pkl").unlink()
    (tune / SIGNATURES).write_text("{not json")
    with pytest.raises(SweepError, match="not a valid signature file"):
        verify_folder(tune, key)
    assert not marker.exists()


def test_a_hostile_trial_checkpoint_is_refused_by_name(prepared_phantom, tmp_path: Path) -> None:
    """Checkpoints are safetensors + JSON, read by checked readers: a link or a malformed file is one error."""
    import shutil

    from medzoo.errors import TrialError
    from medzoo.search import TrialConfig, train_trial

    brain = prepared_phantom("figshare-brain")
    cfg = TrialConfig(family="tiny_cnn", image_size=32, epochs=2, batch_size=16, augment="none")
    kept = tmp_path / "ckpt"

    def report(metrics: dict, folder: Path) -> None:
        if not kept.exists():
            shutil.copytree(folder, kept)

    train_trial(cfg, prepared=brain, report=report, limit={"train": 32, "val": 16})
    assert not any(p.suffix in (".pkl", ".pt", ".pth") for p in kept.iterdir())
    (kept / "state.json").write_text('{"epoch": 1}')
    with pytest.raises(TrialError, match="cannot resume from"):
        train_trial(cfg, prepared=brain, resume_from=kept, limit={"train": 32, "val": 16})
    (kept / "last.safetensors").unlink()
    os.symlink("/etc/passwd", kept / "last.safetensors")
    with pytest.raises(TrialError, match=r"last\.safetensors must be a regular file"):
        train_trial(cfg, prepared=brain, resume_from=kept, limit={"train": 32, "val": 16})


def test_cli_resume_of_a_planted_run_is_one_error_line(tmp_path: Path, run_json: dict) -> None:
    import subprocess
    import sys

    marker = tmp_path / "pwned"
    run = _run_folder(tmp_path, marker, run_json)
    (tmp_path / "prepared").mkdir()
    env = {**os.environ, "MEDZOO_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "medzoo", "sweep", str(tmp_path / "prepared"), "--out", str(run), "--resume"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "no medzoo signatures" in errors[0], proc.stderr
    assert "start a new sweep with --out NEW" in proc.stderr
    assert not marker.exists()
