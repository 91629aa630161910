"""A sweep's progress, as a person reads it: one line per sweep, from a small file in the run folder.

Why a file of its own: Tune's per-trial ``result.json`` files say how far each trial got, but
not whether a trial still runs or was stopped by the scheduler, and on object storage they
arrive only when a trial checkpoints. The sweep's driver knows every trial's status, so a
callback there (:class:`ProgressWriter`, imported only where Ray is) writes ``progress.json``
into the run folder through :mod:`medzoo.storage` (a local folder, a shared mount or a bucket
alike), at most every few seconds and once at the end. Readers (the campaign's live lines, a
person's ``cat``) read that one record, never Tune's state.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, ClassVar

from medzoo.formats._base import Record

#: how often (seconds) the driver rewrites progress.json while trials run
WRITE_EVERY_S = 5.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepProgress(Record):
    """One sweep at one moment (``RUN/progress.json``)."""

    FILENAME: ClassVar[str] = "progress.json"

    samples: int
    pending: int = 0
    running: int = 0
    finished: int = 0  # ran all its epochs or stopped early on its own patience
    stopped: int = 0  # stopped by the scheduler (ASHA) or the time budget
    errored: int = 0
    metric: str = "val_metric"  # the dataset's primary metric, on validation
    best: float | None = None
    best_trial: str | None = None
    best_family: str | None = None
    best_epochs: int | None = None
    elapsed_s: float = 0.0
    time_budget_s: float | None = None
    done: bool = False

    @property
    def started(self) -> int:
        return self.running + self.finished + self.stopped + self.errored

    @property
    def ended(self) -> int:
        return self.finished + self.stopped + self.errored


def format_line(name: str, p: SweepProgress | None, *, done: bool = False) -> str:
    """``figshare-brain  3 running, 4 finished, 2 stopped of 10; best val accuracy 0.812 (...); 240 s left``."""
    if p is None:
        return f"  {name:<16} waiting for its first trial"
    counts = f"{p.running} running, {p.finished} finished, {p.stopped} stopped"
    if p.errored:
        counts += f", {p.errored} failed"
    counts += f" of {p.samples}"
    if p.best is None:
        best = "no epoch yet"
    else:
        who = ", ".join(x for x in (p.best_family, f"{p.best_epochs} ep" if p.best_epochs else None) if x)
        best = f"best val {p.metric} {p.best:.3f}" + (f" ({who})" if who else "")
    if done or p.done:
        left = "done"
    elif p.time_budget_s:
        left = f"{max(0.0, p.time_budget_s - p.elapsed_s):.0f} s left"
    else:
        left = f"{p.elapsed_s:.0f} s"
    return f"  {name:<16} {counts}; {best}; {left}"


def summarize_trials(
    trials: list[Any], *, samples: int, metric: str, elapsed_s: float, budget_s: float | None, done: bool
) -> SweepProgress:
    """Count Tune's trials by what happened to them; the best by its best-epoch validation value."""
    counts = {"PENDING": 0, "RUNNING": 0, "finished": 0, "stopped": 0, "ERROR": 0}
    best: tuple[float, Any] | None = None
    for trial in trials:
        status = str(getattr(trial, "status", ""))
        result = getattr(trial, "last_result", None) or {}
        if status == "TERMINATED":
            counts["finished" if result.get("complete") else "stopped"] += 1
        elif status == "PAUSED":
            counts["RUNNING"] += 1  # PBT pauses trials between its perturbations
        elif status in counts:
            counts[status] += 1
        value = result.get("val_metric")
        if isinstance(value, int | float) and math.isfinite(value) and (best is None or value > best[0]):
            best = (float(value), trial)
    top = best[1] if best else None
    config = (getattr(top, "config", None) or {}) if top is not None else {}
    return SweepProgress(
        samples=samples,
        pending=counts["PENDING"],
        running=counts["RUNNING"],
        finished=counts["finished"],
        stopped=counts["stopped"],
        errored=counts["ERROR"],
        metric=metric,
        best=best[0] if best else None,
        best_trial=str(top.trial_id) if top is not None else None,
        best_family=str(config["family"]) if isinstance(config.get("family"), str) else None,
        best_epochs=_int(top.last_result.get("epochs")) if top is not None else None,
        elapsed_s=round(elapsed_s, 1),
        time_budget_s=budget_s,
        done=done,
    )


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, int | float) and math.isfinite(v) else None


def read_progress(run: Any) -> SweepProgress | None:
    """``RUN/progress.json`` (a folder or URI) or None while there is none (or it is being replaced)."""
    from medzoo.errors import FormatError, StorageError
    from medzoo.storage import location

    try:
        loc = location(run) / SweepProgress.FILENAME
        return SweepProgress.read(loc) if loc.exists() else None
    except (FormatError, StorageError, OSError):
        return None


class Throttle:
    """True at most every ``every_s`` seconds (and always when forced)."""

    def __init__(self, every_s: float) -> None:
        self.every_s, self.last = every_s, -math.inf

    def __call__(self, *, force: bool = False) -> bool:
        now = time.monotonic()
        if force or now - self.last >= self.every_s:
            self.last = now
            return True
        return False
