"""``make bench``'s harness: the benchmarks are found, ratios are judged against their goals,
and ASHA's replay stops trials the way Ray's asynchronous rule does (no timing here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _benchmarks_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``benchmarks/`` is a folder of the checkout, not an installed package."""
    monkeypatch.syspath_prepend(str(ROOT))


def test_list_names_every_benchmark() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--list"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert {"bench_sweep", "bench_trial", "bench_loader", "bench_search", "bench_complexity"} <= set(out)
    assert {"bench_compute", "bench_startup", "gpu"} <= set(out)


def test_unknown_benchmark_is_one_error_line() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "benchmarks", "bench_nope"], cwd=ROOT, capture_output=True, text=True
    )
    assert res.returncode == 2 and res.stdout.startswith("error: unknown benchmark(s) bench_nope")


def test_ratio_is_judged_on_the_right_side_of_its_goal(tmp_path, monkeypatch) -> None:
    from benchmarks import _common
    from benchmarks._common import Ratio, median_ratio

    assert median_ratio("a", [1.2, 0.9, 1.0], goal=1.05, better="<=").met is True
    assert median_ratio("b", [0.5, 0.4, 0.6], goal=0.55, better=">=").met is False
    assert Ratio(name="c", value=None, goal=1, better=">=").met is None
    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    path = _common.write_results("x", [Ratio(name="d", value=2.0, goal=1.5, better=">=")])
    assert json.loads(path.read_text())["ratios"][0]["met"] is True


def test_asha_replay_stops_a_trial_below_the_rung_median() -> None:
    from benchmarks.bench_search import asha_epochs

    good, bad = [50.0, 60, 70, 80], [40.0, 41, 42, 99]
    # grace period 1, rungs 1 and 2: the second trial is cut at epoch 1 (40 < 50), never reaching 99
    assert asha_epochs([good, bad], target=99, epochs=4) is None
    assert asha_epochs([good, bad], target=80, epochs=4) == 4
    assert asha_epochs([bad, good], target=99, epochs=4) == 4


def test_only_takes_short_names_and_refuses_unknown_ones() -> None:
    from benchmarks.__main__ import _full_name

    assert [_full_name(n) for n in ("trial", " loader", "bench_sweep", "gpu")] == [
        "bench_trial",
        "bench_loader",
        "bench_sweep",
        "gpu",
    ]
    res = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "trial,nope", "--repeat", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and res.stdout.startswith("error: unknown benchmark(s) bench_nope;")
