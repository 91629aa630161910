"""`medzoo quickstart` end to end on phantoms: interrupted, run again, finished without redoing work."""

from __future__ import annotations

import json
import os
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
    )


def _stages(out: Path) -> dict[str, dict]:
    path = out / "quickstart.json"
    return json.loads(path.read_text())["stages"] if path.exists() else {}


def test_quickstart_interrupted_then_resumed(tmp_path: Path) -> None:
    out = tmp_path / "qs"
    # 1. start, and interrupt it (Ctrl-C) in the middle of the first sweep
    proc = _start(out, budget_minutes=4.5)
    try:
        deadline = time.monotonic() + 240
        while not (out / "runs" / "figshare-brain" / "tune").exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "quickstart did not start the first sweep in time"
            time.sleep(0.5)
        time.sleep(4)
        os.killpg(proc.pid, signal.SIGINT)
        first_log = proc.communicate(timeout=120)[0]
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
    assert (out / "site" / "index.html").exists()
    for ds in STUDY_DATASETS:
        assert (out / "site" / f"{ds}.json").exists()


def test_data_override_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ID=RAW_PATH"):
        parse_data_overrides(["figshare-brain"])
    with pytest.raises(ConfigError, match="not one of"):
        parse_data_overrides([f"imagenet={tmp_path}"])
    with pytest.raises(ConfigError, match="does not exist"):
        parse_data_overrides([f"figshare-brain={tmp_path / 'missing'}"])
    assert parse_data_overrides([f"chestxray14={tmp_path}"]) == {"chestxray14": tmp_path.resolve()}
