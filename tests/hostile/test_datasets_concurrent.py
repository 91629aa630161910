"""Issue 11, class 6 (concurrent writers) for ``medzoo datasets prepare``.

Two prepares into one OUT: one wins, the other fails with one clear error and
never replaces the winner's set; temporary folders of killed prepares are
cleaned up by the next run.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from medzoo import datasets
from medzoo.errors import DatasetError

prepare_module = importlib.import_module("medzoo.datasets.prepare")  # the package attribute is the function


@pytest.fixture
def cxr(tmp_path: Path) -> Path:
    return datasets.synthesize("chestxray14", tmp_path / "raw", patients=4, seed=0)


def test_two_concurrent_cli_prepares_one_wins_one_fails_clearly(cxr: Path, tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    argv = [sys.executable, "-m", "medzoo", "datasets", "prepare", "chestxray14", str(cxr), str(out)]
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "Traceback" not in loser
    errors = [line for line in loser.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(out) in errors[0]
    info = datasets.read_info(out)  # the winner's set is complete and valid
    assert len(datasets.read_manifest(out)) == info["images"] > 0
    assert not list(tmp_path.glob(".prepared.partial-*"))


def test_out_appearing_meanwhile_is_never_replaced(
    cxr: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "prepared"
    real = prepare_module._write_prepared

    def and_someone_else_finishes(*args: object, **kwargs: object) -> None:
        real(*args, **kwargs)
        out.mkdir()
        (out / "theirs.txt").write_text("the other prepare's result")

    monkeypatch.setattr(prepare_module, "_write_prepared", and_someone_else_finishes)
    with pytest.raises(DatasetError, match="appeared while this run was writing it") as err:
        datasets.prepare("chestxray14", cxr, out, progress=False)
    assert str(out) in err.value.message
    assert [p.name for p in out.iterdir()] == ["theirs.txt"]
    assert not list(tmp_path.glob(".prepared.partial-*"))


def test_leftovers_of_killed_prepares_are_removed(cxr: Path, tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)  # a process that has exited: its temporary folder is litter
    leftover = tmp_path / f".prepared.partial-{pid}-x1"
    (leftover / "images").mkdir(parents=True)
    live = tmp_path / ".prepared.partial-1-x2"  # pid 1 runs: never touched
    live.mkdir()
    datasets.prepare("chestxray14", cxr, tmp_path / "prepared", progress=False)
    assert not leftover.exists() and live.is_dir()
