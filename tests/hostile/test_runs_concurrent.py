"""Issue 11 class 6 for sweeps: two sweeps started on the same ``--out`` never both write into it.

``run.json`` is created without replacing (the claim) before Ray starts; the sweep that loses the
claim fails with one error naming the folder, and the winner's ``run.json`` is left as it was.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from entries_zoo import assert_one_error_line, run_cli

from medzoo.errors import SweepError
from medzoo.formats.run import RunInfo
from medzoo.search.sweep import claim_run_folder


@pytest.fixture
def info(run_json: dict):
    """``info(seed)``: a valid RunInfo that differs by its seed (which claim won is then visible)."""
    return lambda seed: RunInfo.from_dict({**run_json, "seed": seed}, where="run.json")


@pytest.mark.parametrize("existing", ["none", "empty-dir"])
def test_the_second_claim_of_a_run_folder_fails_and_keeps_the_first(
    tmp_path: Path, existing: str, info
) -> None:
    out = tmp_path / "run"
    if existing == "empty-dir":
        out.mkdir()
    claim_run_folder(out, info(1))
    with pytest.raises(SweepError, match=str(out)):
        claim_run_folder(out, info(2))
    assert RunInfo.read(out).seed == 1
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]  # no temporary sibling left


@pytest.mark.parametrize("round_", range(5))
def test_claims_racing_for_one_folder_have_exactly_one_winner(tmp_path: Path, round_: int, info) -> None:
    out = tmp_path / "run"
    barrier = threading.Barrier(4)
    outcome: dict[int, str] = {}

    def claim(seed: int) -> None:
        barrier.wait()
        try:
            claim_run_folder(out, info(seed))
            outcome[seed] = "won"
        except SweepError as exc:
            outcome[seed] = exc.message

    threads = [threading.Thread(target=claim, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [s for s, o in outcome.items() if o == "won"]
    assert len(winners) == 1, outcome
    assert all(str(out) in o for o in outcome.values() if o != "won")
    assert RunInfo.read(out).seed == winners[0]
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]


def test_cli_sweep_into_a_claimed_folder_is_one_error_line(prepared_phantom, tmp_path, capsys, info) -> None:
    out = tmp_path / "run"
    claim_run_folder(out, info(7))
    before = (out / "run.json").read_bytes()
    argv = ["sweep", str(prepared_phantom("figshare-brain")), "--recipe", "brain-effnet", "--smoke"]
    code, _, err = run_cli([*argv, "--out", str(out)], capsys)
    assert_one_error_line(code, err, str(out))
    assert (out / "run.json").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]
