"""medzoo.search: recipes and spaces (data), the trial, losses, metrics, and the sweep runner.

The sweep API mirrors Ray's Tuner: ``SweepSpec.build(prepared=, out=, recipe= | space=, ...)``
(validated, frozen), ``run(spec)`` (or ``run(**fields)``), ``resume(run_folder)``.

Names resolve lazily so that ``import medzoo`` stays cheap and Ray is imported
only when a sweep runs.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run": "sweep",
    "resume": "sweep",
    "SweepSpec": "sweep",
    "Placement": "sweep",
    "SweepSetup": "trainable",
    "SigningKey": "signing",
    "train_trial": "trial",
    "build_model": "trial",
    "build_loaders": "trial",
    "build_loss": "trial",
    "build_optimizer": "trial",
    "build_schedule": "trial",
    "train_one_epoch": "trial",
    "evaluate": "trial",
    "evaluate_test": "evaluation",
    "TrialConfig": "config",
    "parse_sets": "config",
    "Recipe": "recipes",
    "load_recipe": "recipes",
    "load_space": "recipes",
    "list_recipes": "recipes",
    "ClassificationLoss": "losses",
    "class_weights": "losses",
    "compute_metrics": "metrics",
    "bootstrap_metrics": "metrics",
    "patient_vote": "metrics",
    "sequence_vote": "metrics",
    "EarlyStopping": "schedule",
    "LRSchedule": "schedule",
    "ResultTable": "results",
    "read_results": "results",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"medzoo.search.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'medzoo.search' has no attribute {name!r}")
