"""`medzoo quickstart` end to end on phantoms: interrupted, run again, finished without redoing work."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medzoo.errors import ConfigError
from medzoo.quickstart import STUDY_DATASETS, parse_data_overrides

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def _start(out: Path, budget_minutes: float) -> subprocess.Popen[str]:
    env = dict(os.environ)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "medzoo",
            "quickstart",
            "--out",
            str(out),
            "--budget-minutes",
            str(budget_minutes),
            "--samples",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )


def _ctrl_c_as_in_a_terminal() -> None:
    """A shell's background jobs (nohup, CI runners) inherit SIGINT ignored, and Python then never raises
    KeyboardInterrupt; the quickstart is started as from a terminal, where Ctrl-C reaches it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stages(out: Path) -> dict[str, dict]:
    path = out / "quickstart.json"
    return json.loads(path.read_text())["stages"] if path.exists() else {}


def test_quickstart_interrupted_then_resumed(tmp_path: Path) -> None:
    out = tmp_path / "qs"
    # 1. start, and interrupt it (Ctrl-C) in the middle of the first sweep
    proc = _start(out, budget_minutes=4.5)
    try:
        deadline = time.monotonic() + 480  # a crowded machine prepares slowly
        while not (out / "runs" / "figshare-brain" / "tune").exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "quickstart did not start the first sweep in time"
            time.sleep(0.5)
        time.sleep(4)
        os.killpg(proc.pid, signal.SIGINT)
        first_log = proc.communicate(timeout=300)[
            0
        ]  # grace for the sweeps to save (60 s) + Ray shutdown, under load
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0, first_log
    done_before = _stages(out)
    assert "figshare-brain/prepare" in done_before
    assert "figshare-brain/sweep" not in done_before, "an interrupted sweep was recorded as finished"
    synth_mtime = (out / "raw" / "figshare-brain").stat().st_mtime

    # 2. run again: it continues, redoing none of the finished stages
    proc = _start(out, budget_minutes=4.5)
    try:
        log = proc.communicate(timeout=900)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, log
    for key in done_before:
        assert f"skip {key}: done before" in log, f"{key} was redone:\n{log}"
    assert (out / "raw" / "figshare-brain").stat().st_mtime == synth_mtime

    # 3. every dataset has an entry with a valid card, and the site was built
    from huggingface_hub import ModelCard

    summary = json.loads((out / "summary.json").read_text())
    assert [r["dataset"] for r in summary["rows"]] == list(STUDY_DATASETS)
    for row in summary["rows"]:
        entry_root = out / "zoo" / row["dataset"]
        cards = list(entry_root.glob("*/r*/README.md"))
        assert cards, f"no card for {row['dataset']}"
        card = ModelCard.load(cards[0])
        assert card.data.eval_results, f"{cards[0]} has no eval results"
        assert 0.0 <= row["value"] <= 1.0 and row["ci_low"] <= row["value"] <= row["ci_high"]
        assert row["above_chance"] == (row["ci_low"] > row["chance"])
    assert (out / "site" / "index.html").exists()
    # 4. boards that compare: each ranks the sweep's top entries, several families among them
    for ds in STUDY_DATASETS:
        board = json.loads((out / "site" / f"{ds}.json").read_text())
        families = {r["architecture"] for r in board["rows"]}
        assert len(board["rows"]) >= 3 and len(families) >= 2, (ds, board["rows"])
    # 5. the summary judges each selection against chance (1/classes, or 0.5 for an AUC)
    figshare = next(r for r in summary["rows"] if r["dataset"] == "figshare-brain")
    assert figshare["chance"] == pytest.approx(1 / 3) and figshare["board_rows"] >= 3
    # 6. progress a person reads: one line per sweep, and no Tune trial table on the terminal
    assert re.search(r"figshare-brain +\d+ running, \d+ finished, \d+ stopped of 3; best val accuracy", log)
    assert "Trial status" not in log and "Trial name" not in log


def test_data_override_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ID=RAW_PATH"):
        parse_data_overrides(["figshare-brain"])
    with pytest.raises(ConfigError, match="not one of"):
        parse_data_overrides([f"imagenet={tmp_path}"])
    with pytest.raises(ConfigError, match="does not exist"):
        parse_data_overrides([f"figshare-brain={tmp_path / 'missing'}"])
    assert parse_data_overrides([f"chestxray14={tmp_path}"]) == {"chestxray14": tmp_path.resolve()}


def test_chance_is_one_over_the_classes_for_accuracy_and_a_half_for_auc() -> None:
    from medzoo.quickstart import chance_level

    assert chance_level("accuracy", num_classes=4) == 0.25
    assert chance_level("auc", num_classes=2) == chance_level("mean_auroc", num_classes=14) == 0.5
    with pytest.raises(ConfigError, match="no chance level"):
        chance_level("ece", num_classes=3)
