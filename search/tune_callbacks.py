"""Tune callbacks of the sweep driver (imports Ray: only imported when a sweep runs)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray.train import UserCallback
from ray.tune import Callback

from medzoo.search.signing import SigningKey, seal_state
from medzoo.search.trainable import FINAL_ERROR

log = logging.getLogger(__name__)


class SignState(Callback):
    """Seals and signs the driver's staging copy of Tune's state at every save, before its upload.

    Tune writes its state into a staging folder on the driver, asks every callback for its
    state (``get_state``, the last step of a save), then uploads the folder to storage file
    by file. Here, in between, :func:`medzoo.search.signing.seal_state` writes the complete
    generation to storage as one object and the manifest into staging, so a driver killed
    at any point of the upload leaves state that resume accepts or restores.

    The staging folder is found through Tune's live trial list (kept from ``on_step_begin``):
    Tune adds a step's new trials to it before the step saves, so even the first save is sealed.

    This object is pickled into ``tuner.pkl`` with the RunConfig, so it holds the key's
    *path* and the Tune folder's URI, never the secret. ``extra`` (set after the Tuner is
    built or restored) holds the state files only storage holds (``tuner.pkl``).
    """

    def __init__(self, key_path: str | Path, tune_uri: str) -> None:
        self.key_path = str(key_path)
        self.tune_uri = tune_uri
        self.extra: dict[str, bytes] = {}
        #: called before each seal (set after the Tuner is built or restored, never pickled): uploads
        #: what the state refers to (the Optuna journal) so storage never holds state without it
        self.before_seal: Callable[[], None] | None = None
        self._trials: list | None = None

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        self._trials = trials

    def get_state(self) -> None:  # None: Tune writes no callback-state pickle for us
        if self._trials:
            from medzoo.errors import StorageError
            from medzoo.storage import location

            try:
                if self.before_seal is not None:
                    self.before_seal()
                seal_state(
                    staging=self._trials[0].storage.experiment_driver_staging_path,
                    tune=location(self.tune_uri),
                    key=SigningKey.from_file(self.key_path),
                    extra=self.extra,
                )
            except (
                StorageError,
                OSError,
            ) as exc:  # storage unreachable for a moment: the last seal stays valid
                log.warning(
                    "medzoo: could not seal this save of the Tune state (%s); the next save will", exc
                )
        return None

    def __getstate__(self) -> dict[str, Any]:
        return {
            "key_path": self.key_path,
            "tune_uri": self.tune_uri,
            "extra": {},
            "before_seal": None,
            "_trials": None,
        }


class FinalErrors(Callback):
    """Ends a trial at its next failure when it reported :data:`FINAL_ERROR` (unreadable data).

    Tune retries every failed trial up to ``FailureConfig.max_failures`` and has no
    public non-retryable exception; a trial's ``max_failures`` is what Tune consults
    when the failure arrives, so it is set to 0 when the trial announces a final error
    (the report comes just before the exception, in the same order).
    """

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if FINAL_ERROR in result:
            trial.max_failures = 0


class ReportToTune(UserCallback):
    """Ray Train callback (runs in a data-parallel trial's trainer): each report goes to the Tune trial.

    Like Ray's ``TuneReportCallback``, but it carries the checkpoint's path in the run's storage,
    which the trial then reports to Tune as a checkpoint (Ray's callback makes it a metric only),
    so Tune restores, retries and collects data-parallel trials as it does single-worker ones.
    """

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any) -> None:
        self.queue.put((dict(metrics[0]), checkpoint.path if checkpoint else None))
