"""The sweep driver's watcher: progress file and time budget (imports Ray: only imported when a sweep runs)."""

from __future__ import annotations

import time
from typing import Any

from ray.tune import Callback
from ray.tune.stopper import Stopper

from medzoo.search.progress import WRITE_EVERY_S, SweepProgress, Throttle, format_line, summarize_trials


class SweepWatch(Callback, Stopper):
    """Writes ``RUN/progress.json`` (see :mod:`medzoo.search.progress`) and keeps the time budget.

    One object is both the sweep's callback and its stopper, because the budget needs what only
    the callback sees (each trial's status): the sweep ends once ``time_budget_s`` is spent and
    every running trial has reported at least one epoch. Tune's own ``time_budget_s`` ends the
    experiment at the budget whatever happened, so on a slow or crowded machine a sweep could end
    with its trials still in their first epoch and nothing to select or publish. Once some trial
    has an epoch the wait is bounded: at twice the budget (at least two minutes more) the sweep
    ends; before that, it waits (a sweep without any epoch has nothing to give; trials that fail
    end as errors, so only a hung trial could hold it).

    Pickled into ``tuner.pkl`` with the RunConfig, so it holds the run's URI (never a filesystem
    object or credentials) and plain numbers; a resumed sweep gets it back with a fresh budget.
    ``echo`` also prints the line (a standalone ``medzoo sweep``).
    """

    def __init__(
        self,
        *,
        run_uri: str,
        name: str,
        samples: int,
        metric: str,
        time_budget_s: float | None,
        echo: bool = False,
    ) -> None:
        self.run_uri, self.name, self.samples, self.metric = run_uri, name, samples, metric
        self.time_budget_s, self.echo = time_budget_s, echo
        self._reset()

    def _reset(self) -> None:
        self.t0 = time.monotonic()
        self.throttle = Throttle(WRITE_EVERY_S)
        self.last_line = ""
        self.trials: list[Any] = []

    def __getstate__(self) -> dict[str, Any]:
        keep = ("run_uri", "name", "samples", "metric", "time_budget_s", "echo")
        return {k: getattr(self, k) for k in keep}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    # -- the stopper ------------------------------------------------------------------------------

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False  # never stops one trial on its own: the scheduler does

    def stop_all(self) -> bool:
        if self.time_budget_s is None:
            return False
        elapsed = time.monotonic() - self.t0
        if elapsed < self.time_budget_s:
            return False
        # an epoch counts once Tune holds its checkpoint: a result whose checkpoint is not registered
        # yet would be lost by stopping now (its trial ends without weights to select)
        saved = [getattr(t, "checkpoint", None) is not None for t in self.trials]
        if not any(saved):
            return False  # nothing to select yet: ending now would waste the whole sweep
        if elapsed >= max(2 * self.time_budget_s, self.time_budget_s + 120):
            return True
        return all(ok for t, ok in zip(self.trials, saved, strict=True) if str(t.status) == "RUNNING")

    # -- the callback -----------------------------------------------------------------------------

    def setup(self, **info: Any) -> None:
        self._reset()

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        self.trials = list(trials)
        self._write(trials)  # throttled: keeps elapsed time and the time left current between results

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._write(trials, force=True)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self._write(trials)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._write(trials, force=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._write(trials, force=True)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._write(trials, force=True, done=True)

    def _write(self, trials: list, *, force: bool = False, done: bool = False) -> None:
        if not self.throttle(force=force):
            return
        progress = summarize_trials(
            list(trials),
            samples=self.samples,
            metric=self.metric,
            elapsed_s=time.monotonic() - self.t0,
            budget_s=self.time_budget_s,
            done=done,
        )
        try:
            progress.write(self._location())
        except Exception:  # noqa: BLE001 - progress is advisory: a failed write never fails the sweep
            return
        if self.echo:
            line = format_line(self.name, progress)
            if line.rsplit(";", 1)[0] != self.last_line.rsplit(";", 1)[0] or done:
                print(line, flush=True)
            self.last_line = line

    def _location(self) -> Any:
        from medzoo.storage import location

        return location(self.run_uri) / SweepProgress.FILENAME
