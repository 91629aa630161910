"""The source studies' own numbers (from their publications) as data, for cards and leaderboards.

They are kept apart from medzoo's results on purpose: every row carries the
study's protocol text so a reader sees why a 99 % image-level accuracy is not
comparable with a patient-level one.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from medzoo.errors import ConfigError

_STUDY_KEYS = {"study", "recipe", "dataset", "protocol", "rows"}
_ROW_KEYS = {"architecture", "variant", "metrics", "params_m", "gflops"}


@functools.lru_cache(maxsize=1)
def _table() -> tuple[dict[str, Any], ...]:
    import yaml

    text = resources.files("medzoo.zoo.entries").joinpath("reported.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    rows: list[dict[str, Any]] = []
    for i, study in enumerate(data.get("studies", [])):
        unknown = set(study) - _STUDY_KEYS
        if unknown:
            raise ConfigError(
                f"reported.yaml study #{i}: unknown keys {sorted(unknown)}; allowed {sorted(_STUDY_KEYS)}"
            )
        for j, row in enumerate(study["rows"]):
            unknown = set(row) - _ROW_KEYS
            if unknown:
                raise ConfigError(
                    f"reported.yaml study #{i} row #{j}: unknown keys {sorted(unknown)}; allowed {sorted(_ROW_KEYS)}"
                )
            rows.append(
                {
                    "study": study["study"],
                    "recipe": study["recipe"],
                    "dataset": study["dataset"],
                    "architecture": row["architecture"],
                    "variant": row.get("variant"),
                    "metrics": {k: float(v) for k, v in row["metrics"].items()},
                    "params_m": row.get("params_m"),
                    "gflops": row.get("gflops"),
                    "protocol": study["protocol"],
                    "label": "paper-reported",
                }
            )
    return tuple(rows)


def paper_reported(dataset_id: str, *, architecture: str | None = None) -> list[dict[str, Any]]:
    """Rows of paper-reported numbers for ``dataset_id`` (optionally one architecture family).

    Each row: study, recipe, dataset, architecture, variant, metrics {name: fraction},
    params_m, gflops, protocol, label="paper-reported". Unknown datasets give ``[]``.
    """
    return [
        dict(r, metrics=dict(r["metrics"]))
        for r in _table()
        if r["dataset"] == dataset_id and (architecture is None or r["architecture"] == architecture)
    ]
