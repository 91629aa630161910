"""Ray Tune's OptunaSearch with the study kept in the run folder, where Optuna's own tools open it.

Why: Tune keeps Optuna's study in memory (and pickled inside its state), so
``optuna.load_study`` and optuna-dashboard could not open a sweep. Here the study
lives in the run folder as Optuna's journal file (``RUN/optuna.journal``, plain
JSON lines: nothing in it is unpickled), named after the run, and every Optuna
trial carries the user attribute ``medzoo_trial_id``: the Tune trial id, which is
also the trial's folder name under ``RUN/trials/``.

    optuna.load_study(study_name=run_json.study, storage=journal_storage(RUN / STUDY_FILE))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune.search.optuna import OptunaSearch

STUDY_FILE = "optuna.journal"
TRIAL_ATTR = "medzoo_trial_id"


def journal_storage(path: str | Path) -> Any:
    """Optuna's journal file storage at ``path`` (created on first write)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(path)))


class RunStudySearch(OptunaSearch):
    """OptunaSearch that tags each Optuna trial with the medzoo (Tune) trial id it configured."""

    def suggest(self, trial_id: str) -> dict | None:
        config = super().suggest(trial_id)
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is not None and TRIAL_ATTR not in ot_trial.user_attrs:
            ot_trial.set_user_attr(TRIAL_ATTR, trial_id)
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Skips the result that announces a trial's final error: it carries no metric to report."""
        if isinstance(self.metric, str) and self.metric not in result:
            return
        super().on_trial_result(trial_id, result)
