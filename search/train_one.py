"""One trial without Ray (``medzoo train``): a recipe's point with ``--set`` overrides.

The checkpoint lives beside the trial folder (``.<name>.checkpoint``) while the
trial runs, so an interrupted ``medzoo train ... --resume`` continues where it
stopped; it is removed once the trial folder is complete.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medzoo.errors import ConfigError, TrialError
from medzoo.paths import atomic_dir
from medzoo.search.config import from_dict, parse_sets
from medzoo.search.recipes import load_recipe


def checkpoint_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.checkpoint"


def train_one(
    *,
    prepared: str | Path,
    recipe: str,
    out: str | Path,
    sets: Sequence[str] = (),
    smoke: bool = False,
    resume: bool = False,
    test: bool = False,
) -> dict[str, Any]:
    """Train the recipe's point (``sets`` = ["key=value", ...]) into ``out``; return the final report."""
    from medzoo.search.evaluation import evaluate_test
    from medzoo.search.trial import DataInfo, train_trial

    prepared, out = Path(prepared).expanduser().resolve(), Path(out).expanduser().resolve()
    rec = load_recipe(recipe, smoke=smoke)
    data = DataInfo.read(prepared)
    if rec.dataset is not None and rec.dataset != data.dataset:
        raise ConfigError(
            f"recipe {rec.id!r} is for dataset {rec.dataset!r}, but {prepared} holds {data.dataset!r}"
        )
    cfg = from_dict({**rec.point.to_dict(), **parse_sets(list(sets))}, where=f"recipe {rec.id} with --set")
    ckpt = checkpoint_dir(out)
    if out.exists() and not resume:
        raise TrialError(
            f"trial folder {out} exists already; training never overwrites one",
            fix="choose another --out, or remove it",
        )
    if resume and not ckpt.exists():
        raise TrialError(f"cannot resume: no checkpoint at {ckpt}", fix="run without --resume")

    def report(metrics: dict[str, Any], folder: Path) -> None:
        with atomic_dir(ckpt, replace=True) as tmp:
            shutil.copytree(folder, tmp, dirs_exist_ok=True)

    result = train_trial(
        cfg,
        prepared=prepared,
        out_dir=out,
        report=report,
        limit=rec.limit,
        resume_from=ckpt if resume else None,
    )
    shutil.rmtree(ckpt, ignore_errors=True)
    if test:
        evaluate_test(out, prepared=prepared, primary_metric=data.primary_metric, limit=rec.limit)
    return result
