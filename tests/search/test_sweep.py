"""Real Ray Tune sweeps on phantoms: results, selection, failures, resume, data parallelism."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from medzoo.search import run

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SPACE = """
base: brain-effnet
point: {{family: tiny_cnn, pretrained: false, freeze: 0, image_size: 32, epochs: {epochs}, batch_size: 16,
        augment: none, early_stop_patience: null, lr: 3.0e-3, balance: loss_weights}}
space:
  lr: {{type: loguniform, low: 1.0e-3, high: 1.0e-2}}
  family: {{type: choice, values: [tiny_cnn, tiny_effnet]}}
smoke:
  limit: {{train: 48, val: 24, test: 24}}
"""


def _space(tmp_path: Path, epochs: int) -> Path:
    f = tmp_path / "space.yaml"
    f.write_text(SPACE.format(epochs=epochs))
    return f


@pytest.fixture(scope="module")
def brain(prepared_phantom) -> Path:
    return prepared_phantom("figshare-brain")


def test_asha_optuna_sweep_selects_on_val_and_tests_the_top_k(
    ray_cluster: str, brain: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    table = run(
        prepared=brain,
        space=_space(tmp_path, 2),
        out=out,
        samples=3,
        scheduler="asha",
        search="optuna",
        objectives=("val_metric", "gmacs"),
        smoke=True,
        test_top_k=2,
        progress=False,
        resamples=200,
    )
    frame = pd.read_parquet(out / "results.parquet")
    assert len(frame) == 3 and set(frame["status"]) == {"TERMINATED"}
    assert {
        "config.lr",
        "config.family",
        "val_metric",
        "val_accuracy",
        "params",
        "gmacs",
        "epochs",
        "compute_s",
    } <= set(frame.columns)
    ranked = frame.sort_values("val_metric", ascending=False)
    tested = frame[frame["test_accuracy"].notna()]
    assert len(tested) == 2 and set(tested["trial_id"]) == set(
        ranked["trial_id"][:2]
    )  # selection on val only
    assert (tested["test_accuracy_ci_low"] <= tested["test_accuracy"]).all()
    assert (tested["test_accuracy"] <= tested["test_accuracy_ci_high"]).all()
    best = json.loads((out / "best.json").read_text())
    assert best["trial_id"] == ranked["trial_id"].iloc[0] and best["test"]["accuracy"]["value"] is not None
    assert best["config"]["dataset"] == "figshare-brain"
    trial = out / "trials" / best["trial_id"]
    assert {
        "trial.json",
        "model.safetensors",
        "history.json",
        "val_metrics.json",
        "test_metrics.json",
        "test_outputs.npz",
        "complexity.json",
    } <= {p.name for p in trial.iterdir()}
    import numpy as np

    npz = np.load(trial / "test_outputs.npz", allow_pickle=False)
    n = json.loads((trial / "test_metrics.json").read_text())["n"]
    assert npz["probs"].shape == (n, 3) and npz["targets"].shape == (n,) and npz["indices"].shape == (n,)
    pareto = json.loads((out / "pareto.json").read_text())
    assert pareto["objectives"] == ["val_metric", "gmacs"] and pareto["front"]
    info = json.loads((out / "run.json").read_text())
    assert info["dataset"] == "figshare-brain" and info["scheduler"] == "asha" and info["finished"]
    assert info["primary_metric"] == "accuracy" and info["space"]["lr"]["type"] == "loguniform"
    assert table.best["trial_id"] == best["trial_id"]
    # the Optuna study is in the run folder, named after the run, its trials linked to medzoo's
    import optuna

    from medzoo.search.optuna_search import STUDY_FILE, TRIAL_ATTR, journal_storage

    assert info["study"] == out.name
    study = optuna.load_study(study_name=info["study"], storage=journal_storage(out / STUDY_FILE))
    assert {t.user_attrs[TRIAL_ATTR] for t in study.trials} == set(frame["trial_id"])
    assert {t.state for t in study.trials} == {optuna.trial.TrialState.COMPLETE}
    assert _dashboard_trials(out / STUDY_FILE, info["study"]) == len(study.trials)
    # Tune's pickled state is signed with the user's key, and verifies
    from medzoo.paths import resolve_home
    from medzoo.search.signing import SIGNATURES, SigningKey, verify_folder

    verify_folder(out / "tune", SigningKey.load_or_create(resolve_home()))
    signed = json.loads((out / "tune" / SIGNATURES).read_text())["files"]
    assert "tuner.pkl" in signed and any(f.startswith("searcher-state") for f in signed)


def _dashboard_trials(journal: Path, study_name: str) -> int:
    """Start optuna-dashboard on the run's journal (127.0.0.1) and count the study's trials it serves."""
    import shutil
    import socket
    import subprocess
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = shutil.which("optuna-dashboard") or str(Path(sys.executable).with_name("optuna-dashboard"))
    cmd = [exe, str(journal), "--host", "127.0.0.1", "--port", str(port), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    studies = json.loads(r.read())["study_summaries"]
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "optuna-dashboard did not start"
                time.sleep(0.5)
        (study_id,) = [s["study_id"] for s in studies if s["study_name"] == study_name]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{study_id}", timeout=30) as r:
            return len(json.loads(r.read())["trials"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _trial_results(out: Path) -> dict[str, list[dict]]:
    found = {}
    for f in (out / "tune").glob("*/result.json"):
        lines = [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
        found[f.parent.name] = lines
    return found


def test_a_killed_trial_process_is_retried_from_its_checkpoint(
    ray_cluster: str, brain: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    epochs = 40  # long enough (a few seconds) that the kill lands while the trial still trains
    killed: list[str] = []

    def killer() -> None:
        deadline = time.time() + 240
        while time.time() < deadline and not killed:
            for trial_id, lines in _trial_results(out).items():
                if lines and lines[-1].get("epoch", 0) >= 1 and not lines[-1].get("complete"):
                    os.kill(lines[-1]["pid"], signal.SIGKILL)
                    killed.append(trial_id)
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    table = run(
        prepared=brain,
        space=_space(tmp_path, epochs),
        out=out,
        samples=1,
        scheduler="fifo",
        search="random",
        smoke=True,
        max_failures=2,
        test_top_k=0,
        progress=False,
    )
    thread.join(timeout=1)
    assert killed, "the trial finished before it could be killed"
    frame = table.frame
    assert len(frame) == 1, frame[["trial_id", "status"]]  # samples=1: one trial, however many families
    row = frame.iloc[0]
    assert row["status"] == "TERMINATED" and row["epochs"] == epochs
    trial = json.loads((out / "trials" / row["trial_id"] / "trial.json").read_text())
    assert trial["resumed_at_epochs"] and trial["resumed_at_epochs"][0] >= 1  # not from scratch
    history = json.loads((out / "trials" / row["trial_id"] / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(1, epochs + 1))  # no epoch lost or repeated


def test_a_dead_driver_is_resumed_without_rerunning_finished_trials(
    ray_cluster: str, brain: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    epochs = 10  # trials long enough that the driver dies while one still trains
    space = _space(tmp_path, epochs)
    script = (
        "import sys; from medzoo.search import run\n"
        f"run(prepared={str(brain)!r}, space={str(space)!r}, out={str(out)!r}, samples=3, scheduler='fifo',"
        f" search='optuna', smoke=True, max_concurrent=1, address={ray_cluster!r}, progress=False, test_top_k=1)\n"
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    finished_before: set[str] = set()
    running: list[str] = []
    deadline = time.time() + 240
    try:
        while time.time() < deadline and driver.poll() is None:
            results = _trial_results(out)
            finished_before = {t for t, lines in results.items() if lines and lines[-1].get("complete")}
            running = [t for t, lines in results.items() if lines and not lines[-1].get("complete")]
            if finished_before and running:
                break
            time.sleep(0.05)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    assert finished_before, "no trial finished before the driver was killed"
    assert not (out / "results.parquet").exists()
    lines_before = {t: len(_trial_results(out)[t]) for t in finished_before}

    table = run(prepared=brain, out=out, resume=True, progress=False)
    frame = table.frame
    assert len(frame) == 3 and set(frame["status"]) == {"TERMINATED"}
    after = _trial_results(out)
    for t in finished_before:  # finished trials were not run again
        assert len(after[t]) == lines_before[t] == epochs
    for t in running:  # the interrupted trial ends complete, with every epoch once
        history = json.loads((out / "trials" / t / "history.json").read_text())
        assert [h["epoch"] for h in history] == list(range(1, epochs + 1))
    assert (out / "best.json").exists()
    assert json.loads((out / "run.json").read_text())["finished"]


def test_data_parallel_trial_with_two_gloo_workers(ray_cluster: str, brain: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    table = run(
        prepared=brain,
        space=_space(tmp_path, 1),
        out=out,
        samples=1,
        scheduler="fifo",
        search="random",
        smoke=True,
        workers_per_trial=2,
        test_top_k=1,
        progress=False,
        resamples=100,
    )
    row = table.frame.iloc[0]
    assert row["status"] == "TERMINATED", row.get("error")
    assert row["epochs"] == 1 and 0 <= row["val_metric"] <= 1
    assert (out / "trials" / row["trial_id"] / "model.safetensors").exists()
    assert row["test_accuracy"] == row["test_accuracy"]  # tested (not NaN)


GLIOMA = """
base: glioma-googlenet
point: {family: tiny_cnn, pretrained: false, image_size: 32, epochs: 1, batch_size: 16, augment: none,
        lr: 3.0e-3, optimizer: adam, head_lr_mult: 1.0, sequence: t2}
space:
  sequence: {type: grid, values: [t1, t2, flair]}
smoke:
  limit: {train: 48, val: 24, test: 24}
"""


def test_unreadable_data_fails_one_trial_with_its_reason_and_the_sweep_goes_on(
    ray_cluster: str, prepared_phantom, tmp_path: Path
) -> None:
    import shutil

    prepared = tmp_path / "brats"
    shutil.copytree(prepared_phantom("brats19-grade"), prepared)
    manifest = pd.read_parquet(prepared / "manifest.parquet")
    victim = manifest[(manifest["split"] == "train") & (manifest["sequence"] == "t2")]["path"].iloc[0]
    (prepared / victim).write_bytes(b"\x89PNG truncated")
    space = tmp_path / "glioma.yaml"
    space.write_text(GLIOMA)
    out = tmp_path / "run"
    table = run(
        prepared=prepared,
        space=space,
        out=out,
        samples=1,
        scheduler="fifo",
        search="random",
        smoke=True,
        max_failures=0,
        test_top_k=1,
        progress=False,
        resamples=200,
    )
    frame = table.frame
    broken = frame[frame["config.sequence"] == "t2"]
    assert len(frame) == 3 and len(broken) == 1 and set(broken["status"]) == {"ERROR"}
    assert all(Path(victim).name in e for e in broken["error"])  # the reason names the file
    fine = frame[frame["config.sequence"] != "t2"]
    assert set(fine["config.sequence"]) == {"t1", "flair"} and set(fine["status"]) == {"TERMINATED"}
    best = json.loads((out / "best.json").read_text())
    test = json.loads((out / "trials" / best["trial_id"] / "test_metrics.json").read_text())
    assert test["primary_metric"] == "auc" and "patient_level" in test  # vote over each patient's slices
    assert test["patient_level"]["n"] < test["n"]
    vote = json.loads(
        (out / "vote.json").read_text()
    )  # the multi-sequence vote of the study, over t1 + flair
    assert set(vote["sequences"]) == {"t1", "flair"} and vote["metrics"]["auc"]["value"] is not None
    assert vote["n"] == test["n"] and "patient_level" in vote
