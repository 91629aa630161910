"""Tune callbacks of the sweep driver (imports Ray: only imported when a sweep runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune import Callback

from medzoo.search.signing import SigningKey, sign_folder
from medzoo.search.trainable import FINAL_ERROR


class SignState(Callback):
    """Signs the driver's staging copy of Tune's state at every save.

    Tune writes its state into a staging folder on the driver, asks every callback
    for its state (``get_state``, the last step of a save), then uploads the folder
    to storage. Signing there puts the signatures into the same upload, so a driver
    killed between saves leaves state that verifies.

    This object is pickled into ``tuner.pkl`` with the RunConfig, so it holds the
    key's *path*, never the secret. ``extra`` (set after the Tuner is built) holds the
    signatures of files written straight to storage (``tuner.pkl``).
    """

    def __init__(self, key_path: str | Path) -> None:
        self.key_path = str(key_path)
        self.extra: dict[str, str] = {}
        self.staging: Path | None = None

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        if self.staging is None and trials:
            self.staging = Path(trials[0].storage.experiment_driver_staging_path)

    def get_state(self) -> None:  # None: Tune writes no callback-state pickle for us
        if self.staging is not None:
            key = SigningKey.from_file(self.key_path)
            sign_folder(self.staging, key, extra=self.extra)
        return None

    def __getstate__(self) -> dict[str, Any]:
        return {"key_path": self.key_path, "extra": {}, "staging": None}


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
