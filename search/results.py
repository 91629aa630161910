"""From Tune's results to the run folder: one row per trial, the best, the Pareto front.

Trial folders are copied out of each trial's last Tune checkpoint (so the run
folder is complete even when trials ran on other nodes); the test split is
touched here, once, for the top-K trials ranked on validation only.
"""

from __future__ import annotations

import io
import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from medzoo.formats.run import BestTrial, ParetoFront, RunInfo, TrialRecord, VoteResult
from medzoo.formats.run import read_results as read_results_table
from medzoo.paths import atomic_dir, atomic_write_bytes
from medzoo.search.checkpoint import OUTPUT_FILES

if TYPE_CHECKING:
    from medzoo.search.evaluation import TestJob


@dataclass
class ResultTable:
    """The sweep's results: ``frame`` (one row per trial), ``best`` and ``pareto``; ``path`` is the run folder."""

    frame: pd.DataFrame
    path: Path
    best: dict[str, Any] | None
    pareto: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def errors(self) -> pd.DataFrame:
        return self.frame[self.frame["status"] == "ERROR"]

    def to_pandas(self) -> pd.DataFrame:
        return self.frame.copy()

    def __repr__(self) -> str:
        best = self.best["trial_id"] if self.best else None
        return f"ResultTable({len(self)} trials, best={best}, path={str(self.path)!r})"


def _trial_id(result: Any) -> str:
    tid = (result.metrics or {}).get("trial_id")
    if tid:
        return str(tid)
    return Path(result.path).name  # the sweep names trial folders by trial id


def _error_message(err: BaseException) -> str:
    """The user-facing reason: the MedzooError message when there is one, else the last line."""
    cause = getattr(err, "cause", None) or err
    while getattr(cause, "cause", None) is not None and cause.cause is not cause:
        cause = cause.cause
    text = getattr(cause, "message", None) or str(cause)
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    for line in reversed(lines):  # a remote traceback: keep the exception line
        if "Error:" in line or "Exception:" in line:
            return line
    return lines[-1] if lines else type(cause).__name__


def _error_file(trial_dir: Path) -> str:
    """The reason of a failed attempt that Tune kept only on disk (e.g. stopped by the budget mid-retry)."""
    f = trial_dir / "error.txt"
    if not f.exists():
        return ""
    lines = [
        ln.strip()
        for ln in f.read_text(errors="replace").splitlines()
        if "Error:" in ln or "Exception:" in ln
    ]
    return lines[-1] if lines else "the trial failed (see error.txt in its Tune folder)"


def _scalar(v: Any) -> Any:
    if isinstance(v, list | tuple | dict):
        return json.dumps(v)
    return v


def _copy_trial(result: Any, dest: Path) -> bool:
    """Copy the trial folder out of its last checkpoint; False when the trial never checkpointed."""
    source = None
    ckpt = result.checkpoint
    path = (result.metrics or {}).get("checkpoint_path")  # data-parallel trials (TuneReportCallback)
    if ckpt is not None:
        source = ckpt
    elif path and Path(path).exists():
        from ray.tune import Checkpoint

        source = Checkpoint.from_directory(path)
    if source is None:
        return False
    with source.as_directory() as folder, atomic_dir(dest, replace=True) as tmp:
        for name in OUTPUT_FILES:
            if (Path(folder) / name).exists():
                shutil.copy2(Path(folder) / name, tmp / name)
    return True


def _pareto(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Non-dominated rows: higher val_metric and lower gmacs are better."""
    front = []
    for r in rows:
        dominated = any(
            o["val_metric"] >= r["val_metric"]
            and o["gmacs"] <= r["gmacs"]
            and (o["val_metric"] > r["val_metric"] or o["gmacs"] < r["gmacs"])
            for o in rows
        )
        if not dominated:
            front.append(r)
    return sorted(front, key=lambda r: -r["val_metric"])


def _row(result: Any, out: Path) -> dict[str, Any]:
    """One results.parquet row from a Tune result; copies the trial folder out of its checkpoint."""
    tid = _trial_id(result)
    metrics = result.metrics or {}
    error = _error_message(result.error) if result.error else ""
    if not error and not metrics.get("epochs"):  # failed attempts, then stopped by the budget mid-retry
        error = _error_file(Path(result.path))
    status = "ERROR" if error else "TERMINATED" if metrics.get("epochs") else "STOPPED"
    row: dict[str, Any] = {
        "trial_id": tid,
        "status": status,  # STOPPED: ended by the time budget before its first epoch
        "error": error,
    }
    row.update({f"config.{k}": _scalar(v) for k, v in (result.config or {}).items()})
    row.update({k: v for k, v in metrics.items() if k.startswith("val_") and isinstance(v, float | int)})
    row.update(
        {
            "params": metrics.get("params"),
            "gmacs": metrics.get("gmacs"),
            "epochs": metrics.get("epochs"),
            "best_epoch": metrics.get("best_epoch"),
            "compute_s": metrics.get("time_total_s"),
        }
    )
    row["has_weights"] = _copy_trial(result, out / "trials" / tid)
    return row


def _ranked(
    rows: list[dict[str, Any]], *, val_sizes: dict[str | None, int] | None = None
) -> list[dict[str, Any]]:
    """Trials eligible for selection in the order they are tested and published.

    1. The selected trial: the cheapest (fewest GMACs) of those whose validation value lies within
       one standard error of the highest (the one-standard-error rule of Breiman et al., CART 1984;
       Hastie, Tibshirani and Friedman, ESL 7.10). Why: on a validation split of a few dozen images
       the top values differ by noise, and the highest is then the luckiest, not the best; among
       models that validation cannot tell apart, the cheaper one is the safer choice.
       ``val_sizes`` (validation rows per sequence, None: all) gives each value's binomial error.
    2. Then the best (by validation) trial of each family not yet listed, best first, so that the
       top entries of a sweep compare architectures instead of repeating one.
    3. Then the rest, by validation, ties to the cheaper model.
    """
    ok = [
        r for r in rows if r["status"] == "TERMINATED" and r["has_weights"] and _finite(r.get("val_metric"))
    ]
    by_value = sorted(ok, key=lambda r: (-r["val_metric"], _cost(r)))
    if not by_value:
        return []
    top = by_value[0]
    n = (val_sizes or {}).get(_sequence(top)) or 0
    v = min(max(float(top["val_metric"]), 0.0), 1.0)
    se = math.sqrt(v * (1 - v) / n) if n > 0 else 0.0
    tied = [r for r in by_value if r["val_metric"] >= top["val_metric"] - se]
    chosen = min(tied, key=lambda r: (_cost(r), -r["val_metric"]))
    order = [chosen]
    families = {_family(chosen)}
    for r in by_value:
        if r is not chosen and _family(r) not in families:
            order.append(r)
            families.add(_family(r))
    return order + [r for r in by_value if all(r is not o for o in order)]


def _cost(row: dict[str, Any]) -> float:
    g = row.get("gmacs")
    return float(g) if _finite(g) else math.inf


def _family(row: dict[str, Any]) -> Any:
    return row.get("config.family")


def _sequence(row: dict[str, Any]) -> str | None:
    seq = row.get("config.sequence")
    return seq if isinstance(seq, str) and seq else None


def validation_sizes(
    prepared: Path, *, limit: int | None, sequences: set[str | None]
) -> dict[str | None, int]:
    """Validation rows a trial saw, per sequence (None: all rows), as the trials' loaders open them."""
    from medzoo import datasets

    try:
        manifest = datasets.read_manifest(prepared)
    except Exception:  # noqa: BLE001 - without the sizes, selection falls back to the highest value
        return {}
    val = manifest[manifest["split"] == "val"]
    sizes: dict[str | None, int] = {}
    for seq in sequences:
        rows = val if seq is None or "sequence" not in val.columns else val[val["sequence"] == seq]
        sizes[seq] = min(len(rows), limit) if limit else len(rows)
    return sizes


def _best_per_sequence(ranked: list[dict[str, Any]]) -> dict[str, str]:
    """Multi-sequence datasets: the best trial (on validation) of each sequence."""
    per_sequence: dict[str, str] = {}
    for r in sorted(ranked, key=lambda r: (-r["val_metric"], _cost(r))):
        seq = r.get("config.sequence")
        if isinstance(seq, str) and seq and seq not in per_sequence:
            per_sequence[seq] = r["trial_id"]
    return per_sequence if len(per_sequence) >= 2 else {}


def _test(
    ranked: list[dict[str, Any]],
    per_sequence: dict[str, str],
    *,
    out: Path,
    run_info: RunInfo,
    prepared: Path,
    test_top_k: int,
    resamples: int,
    seed: int,
    evaluate: Callable[[Sequence[TestJob]], list[dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """Evaluate the top-K (and, for a vote, each sequence's best) once on test, through ``evaluate``."""
    from medzoo.search.evaluation import TestJob

    wanted = [r["trial_id"] for r in ranked[:test_top_k]]
    if test_top_k > 0:
        wanted += [t for t in per_sequence.values() if t not in wanted]
    jobs = [
        TestJob(
            trial_dir=str(out / "trials" / tid),
            prepared=str(prepared),
            primary_metric=run_info.primary_metric,
            limit=dict(run_info.budget.limit),
            resamples=resamples,
            seed=seed,
        )
        for tid in wanted
    ]
    return dict(zip(wanted, evaluate(jobs) if jobs else [], strict=True))


def _write_frame(frame: pd.DataFrame, ranked: list[dict[str, Any]], tests: dict, out: Path) -> None:
    for tid, res in tests.items():
        i = frame.index[frame["trial_id"] == tid][0]
        for name, m in res["metrics"].items():
            frame.loc[i, f"test_{name}"] = m["value"]
            frame.loc[i, f"test_{name}_ci_low"] = m["ci_low"]
            frame.loc[i, f"test_{name}_ci_high"] = m["ci_high"]
    frame["rank"] = frame["trial_id"].map({r["trial_id"]: i + 1 for i, r in enumerate(ranked)})
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    atomic_write_bytes(out / "results.parquet", buf.getvalue())


def _write_best(ranked: list[dict[str, Any]], tests: dict, out: Path) -> dict[str, Any] | None:
    if not ranked:
        return None
    top = ranked[0]
    best = BestTrial.from_dict(
        {
            "trial_id": top["trial_id"],
            "config": TrialRecord.read(out / "trials" / top["trial_id"]).to_dict(),
            "val": {k: v for k, v in top.items() if k.startswith("val_") and _finite(v)},
            "test": tests.get(top["trial_id"], {}).get("metrics", {}),
            "params": top.get("params"),
            "gmacs": top.get("gmacs"),
        },
        where=str(out / BestTrial.FILENAME),
    )
    best.write(out)
    return best.to_dict()


def _write_pareto(ranked: list[dict[str, Any]], objectives: list[str], out: Path) -> list[dict[str, Any]]:
    if len(objectives) <= 1:
        return []
    pareto = [
        {
            "trial_id": r["trial_id"],
            "val_metric": r["val_metric"],
            "gmacs": r["gmacs"],
            "params": r.get("params"),
            "config": {k[7:]: v for k, v in r.items() if k.startswith("config.")},
        }
        for r in _pareto([r for r in ranked if _finite(r.get("gmacs"))])
    ]
    ParetoFront.from_dict({"objectives": objectives, "front": pareto}, where=str(out / "pareto.json")).write(
        out
    )
    return pareto


def collect(
    grid: Any,
    *,
    out: Path,
    run_info: RunInfo,
    prepared: Path,
    test_top_k: int,
    resamples: int,
    seed: int,
    evaluate: Callable[[Sequence[TestJob]], list[dict[str, Any]]] | None = None,
) -> ResultTable:
    """Write results.parquet, best.json, pareto.json and vote.json from Tune's result grid.

    Selection is on validation only; ``evaluate`` (default: in this process) runs the
    test evaluations of the selected trials.
    """
    from medzoo.search.evaluation import evaluate_jobs_locally, vote_sequences

    rows = [_row(result, out) for result in grid]
    sizes = validation_sizes(
        prepared, limit=run_info.budget.limit.get("val"), sequences={_sequence(r) for r in rows}
    )
    ranked = _ranked(rows, val_sizes=sizes)
    per_sequence = _best_per_sequence(ranked)
    tests = _test(
        ranked,
        per_sequence,
        out=out,
        run_info=run_info,
        prepared=prepared,
        test_top_k=test_top_k,
        resamples=resamples,
        seed=seed,
        evaluate=evaluate or evaluate_jobs_locally,
    )
    if per_sequence and test_top_k > 0:
        vote = vote_sequences(
            {s: out / "trials" / t for s, t in per_sequence.items()},
            prepared=prepared,
            primary_metric=run_info.primary_metric,
            limit=dict(run_info.budget.limit),
            resamples=resamples,
            seed=seed,
        )
        VoteResult.from_dict(vote, where=str(out / VoteResult.FILENAME)).write(out)
    frame = pd.DataFrame(rows)
    _write_frame(frame, ranked, tests, out)
    best = _write_best(ranked, tests, out)
    pareto = _write_pareto(ranked, list(run_info.objectives), out)
    return ResultTable(frame=frame, path=out, best=best, pareto=pareto)


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def read_results(run: str | Path) -> ResultTable:
    """Load a finished run folder back into a :class:`ResultTable` (every file checked)."""
    run = Path(run)
    best = BestTrial.read(run).to_dict() if (run / BestTrial.FILENAME).exists() else None
    pareto = ParetoFront.read(run).to_dict()["front"] if (run / ParetoFront.FILENAME).exists() else []
    return ResultTable(frame=read_results_table(run), path=run, best=best, pareto=pareto)
