"""The sweep driver's progress file and time budget, without a Ray cluster (Tune's objects are stand-ins)."""

from __future__ import annotations

import pickle
from pathlib import Path

from medzoo.search.progress import SweepProgress, read_progress
from medzoo.search.progress_tune import SweepWatch


class _Trial:
    def __init__(self, trial_id: str, status: str, **result: object) -> None:
        self.trial_id, self.status, self.config, self.last_result = trial_id, status, {"family": "x"}, result
        self.checkpoint = "ckpt" if result.get("epochs") else None  # Tune's registered checkpoint


def test_the_budget_never_ends_a_sweep_before_each_running_trial_reported_an_epoch(monkeypatch) -> None:
    import medzoo.search.progress_tune as pt

    now = [100.0]
    monkeypatch.setattr(pt.time, "monotonic", lambda: now[0])
    watch = SweepWatch(run_uri="unused", name="b", samples=2, metric="auc", time_budget_s=60)
    first, second = _Trial("a", "RUNNING"), _Trial("b", "RUNNING")
    watch.trials = [first, second]
    assert not watch.stop_all()  # within the budget
    now[0] = 170.0  # past the budget, but no trial has an epoch yet: a crowded machine still gets a result
    assert not watch.stop_all()
    first.last_result = {"epochs": 1}
    assert not watch.stop_all()  # reported, but Tune has not registered its checkpoint yet
    first.checkpoint = "ckpt"
    assert not watch.stop_all()  # the second running trial has not finished its first epoch
    second.last_result, second.checkpoint = {"epochs": 1}, "ckpt"
    assert watch.stop_all()
    assert watch("a", {"epochs": 2}) is False  # never stops one trial on its own
    second.last_result, second.checkpoint = {}, None
    now[0] = 100.0 + 180.0  # once there is something to select, the wait is bounded: budget + 2 minutes
    assert watch.stop_all()
    first.last_result, first.checkpoint = {}, None
    now[0] = 100.0 + 10_000.0  # without any epoch the sweep would end with nothing: it waits
    assert not watch.stop_all()
    assert not SweepWatch(run_uri="u", name="b", samples=1, metric="auc", time_budget_s=None).stop_all()


def test_the_watch_writes_the_record_and_pickles_without_state(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    writer = SweepWatch(
        run_uri=str(run), name="brain", samples=4, metric="accuracy", time_budget_s=None, echo=True
    )
    trials = [_Trial("a", "RUNNING", val_metric=0.5, epochs=2), _Trial("b", "PENDING")]
    writer.on_trial_start(iteration=1, trials=trials, trial=trials[0])
    p = read_progress(run)
    assert isinstance(p, SweepProgress) and (p.running, p.pending, p.best, p.best_epochs) == (1, 1, 0.5, 2)
    writer.on_trial_result(iteration=2, trials=trials, trial=trials[0], result={})  # throttled: no rewrite
    writer.on_experiment_end(trials=[_Trial("a", "TERMINATED", val_metric=0.6, epochs=3, complete=True)])
    assert read_progress(run).done and read_progress(run).finished == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "brain",
        "1",
        "running,",
        "0",
        "finished,",
        "0",
        "stopped",
        "of",
        "4;",
        "best",
        "val",
        "accuracy",
        "0.500",
        "(x,",
        "2",
        "ep);",
        "0",
        "s",
    ]
    assert out[-1].endswith("; done")
    restored = pickle.loads(pickle.dumps(writer))  # a resumed sweep: same run, fresh budget and lines
    assert (restored.run_uri, restored.samples, restored.last_line, restored.trials) == (str(run), 4, "", [])


def test_a_progress_write_that_fails_never_fails_the_sweep(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    writer = SweepWatch(run_uri=str(blocker), name="b", samples=1, metric="auc", time_budget_s=10, echo=False)
    writer.on_trial_start(iteration=1, trials=[_Trial("a", "RUNNING")], trial=None)
    assert blocker.read_text() == "not a folder"
