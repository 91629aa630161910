"""Issue 11 class 7 for publishing: a run whose chosen trials lost a file publishes nothing of its top-K
(it used to publish the first entries, then fail); the error names the missing file."""

from __future__ import annotations

import shutil

import pytest
from entries_zoo import assert_one_error_line, run_cli

from medzoo.errors import ZooError
from medzoo.zoo.entries import store
from medzoo.zoo.entries.publishing import publish

#: (trial whose file is lost, the file): the best trial and the second, each file publishing needs
CASES = [(t, f) for t in ("t0000", "t0001") for f in ("model.safetensors", "trial.json", "test_metrics.json")]


@pytest.mark.parametrize("trial, lost", CASES, ids=[f"{t}-{f}" for t, f in CASES])
def test_a_lost_trial_file_publishes_nothing(tiny_run, tmp_path, capsys, trial, lost):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    (run / "trials" / trial / lost).unlink()
    zoo = tmp_path / "zoo"
    with pytest.raises(ZooError, match=lost) as info:
        publish(run, top=2, zoo=zoo, gradcam_images=2, faithfulness_images=0)
    assert trial in info.value.message
    assert not zoo.exists() or store.list(zoo=zoo) == []
    code, _, err = run_cli(["publish", str(run), "--top", "2", "--zoo", str(zoo)], capsys)
    assert_one_error_line(code, err, lost)
    assert not zoo.exists() or store.list(zoo=zoo) == []


def test_a_symlinked_trial_file_is_refused(tiny_run, tmp_path):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    weights = run / "trials" / "t0000" / "model.safetensors"
    outside = tmp_path / "outside.safetensors"
    shutil.move(weights, outside)
    weights.symlink_to(outside)
    with pytest.raises(ZooError, match="model.safetensors"):
        publish(run, top=1, zoo=tmp_path / "zoo", gradcam_images=2, faithfulness_images=0)
    assert not (tmp_path / "zoo").exists() or store.list(zoo=tmp_path / "zoo") == []
