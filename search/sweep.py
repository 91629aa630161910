"""The sweep runner: Ray Tune + Optuna over a recipe's space, surviving failures.

``run`` mirrors Ray's Tuner (keyword-only): it resolves the recipe and the Ray
connection once, runs the trials (each one :func:`medzoo.search.trial.train_trial`),
and assembles the run folder of docs/contracts.md "Runs": selection on
validation only, then the top-K trials evaluated once on the test split.

Fault tolerance is Tune's own: a crashed trial is retried from its last
checkpoint (``FailureConfig(max_failures)``); a dead driver is resumed with
``resume=True`` (``Tuner.restore``: finished trials are not run again, errored
ones resume from their checkpoints); a trial whose data is unreadable ends in
ERROR with its reason in the results while the others go on.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medzoo.errors import ConfigError, SweepError
from medzoo.paths import atomic_write_json
from medzoo.search.recipes import Recipe, load_recipe, load_space

SCHEDULERS = ("asha", "pbt", "fifo")
SEARCHES = ("optuna", "random")
OBJECTIVES = {"val_metric": "max", "gmacs": "min"}
TUNE_DIR = "tune"


@dataclass(frozen=True)
class SweepSetup:
    """What every trial of a sweep shares (resolved once in the driver, passed to the workers)."""

    prepared: str
    out: str
    limit: dict[str, int] = field(default_factory=dict)
    max_epochs: int | None = None
    cpus_per_trial: float = 1
    gpus_per_trial: float = 0
    workers_per_trial: int = 1
    max_failures: int = 2


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# -- inside the Ray workers ---------------------------------------------------------------------


def tune_trainable(config: dict[str, Any], setup: SweepSetup) -> None:
    """The Tune function trainable: one trial, resumed from Tune's checkpoint if there is one."""
    import torch
    from ray import tune

    from medzoo.search.config import from_dict
    from medzoo.search.trial import train_trial

    torch.set_num_threads(max(1, int(setup.cpus_per_trial)))
    cfg = from_dict(dict(config), where="trial config")
    checkpoint = tune.get_checkpoint()
    with checkpoint.as_directory() if checkpoint else contextlib.nullcontext(None) as resume_dir:
        if setup.workers_per_trial > 1:
            _data_parallel(cfg.to_dict(), setup, resume_dir)
            return

        def report(metrics: dict[str, Any], folder: Path) -> None:
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(folder)))

        train_trial(
            cfg,
            prepared=setup.prepared,
            report=report,
            limit=setup.limit,
            max_epochs=setup.max_epochs,
            resume_from=resume_dir,
        )


def _data_parallel(config: dict[str, Any], setup: SweepSetup, resume_dir: str | None) -> None:
    """W data-parallel workers (TorchTrainer) inside one Tune trial, reporting back to Tune."""
    from ray import tune
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    use_gpu = setup.gpus_per_trial > 0
    per_worker = {"CPU": setup.cpus_per_trial, **({"GPU": setup.gpus_per_trial} if use_gpu else {})}
    trainer = TorchTrainer(
        _data_parallel_loop,
        train_loop_config={"config": config, "setup": setup, "resume_dir": resume_dir},
        scaling_config=ScalingConfig(
            num_workers=setup.workers_per_trial, use_gpu=use_gpu, resources_per_worker=per_worker
        ),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=RunConfig(
            name=f"train-{tune.get_context().get_trial_id()}",
            storage_path=str(Path(setup.out) / "train"),
            callbacks=[TuneReportCallback()],
            failure_config=FailureConfig(max_failures=setup.max_failures),
        ),
    )
    trainer.fit()


def _data_parallel_loop(loop_config: dict[str, Any]) -> None:
    import ray.train
    import torch

    from medzoo.search.trial import train_trial

    setup: SweepSetup = loop_config["setup"]
    torch.set_num_threads(max(1, int(setup.cpus_per_trial)))
    rank = ray.train.get_context().get_world_rank()

    def report(metrics: dict[str, Any], folder: Path) -> None:
        checkpoint = ray.train.Checkpoint.from_directory(str(folder)) if rank == 0 else None
        ray.train.report(metrics, checkpoint=checkpoint)

    checkpoint = ray.train.get_checkpoint()
    with (
        checkpoint.as_directory()
        if checkpoint
        else contextlib.nullcontext(loop_config["resume_dir"]) as resume
    ):
        train_trial(
            loop_config["config"],
            prepared=setup.prepared,
            report=report,
            limit=setup.limit,
            max_epochs=setup.max_epochs,
            resume_from=resume,
            distributed=True,
        )


# -- the driver ---------------------------------------------------------------------------------


def resolve_recipe(*, recipe: str | Recipe | None, space: str | Path | None, smoke: bool) -> Recipe:
    if isinstance(recipe, Recipe):
        return recipe.smoked() if smoke and not recipe.is_smoke else recipe
    if space is not None:
        return load_space(space, smoke=smoke)
    if recipe is None:
        raise ConfigError("a sweep needs a recipe or a space", fix="pass --recipe ID or --space FILE.yaml")
    return load_recipe(recipe, smoke=smoke)


def _searcher(search: str, recipe: Recipe, objectives: Sequence[str], seed: int):
    metric = list(objectives) if len(objectives) > 1 else objectives[0]
    mode = [OBJECTIVES[o] for o in objectives] if len(objectives) > 1 else OBJECTIVES[objectives[0]]
    points = [p for p in [recipe.point_to_evaluate()] if p]
    grid = [k for k, p in recipe.space.items() if p.kind == "grid"]
    if grid and search == "optuna":
        raise ConfigError(
            f"grid keys ({', '.join(grid)}) enumerate values and need --search random, got optuna",
            fix="use --search random, or type: choice for Optuna",
        )
    if search == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(
            metric=metric,
            mode=mode,
            points_to_evaluate=points or None,
            sampler=optuna.samplers.TPESampler(seed=seed),
        )
    from ray.tune.search import BasicVariantGenerator

    return BasicVariantGenerator(points_to_evaluate=points or None, random_state=seed)


def _scheduler(scheduler: str, recipe: Recipe, epochs: int):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining

    if scheduler == "asha":
        return ASHAScheduler(
            metric="val_metric",
            mode="max",
            time_attr="training_iteration",
            max_t=max(epochs, 1),
            grace_period=max(1, epochs // 4),
            reduction_factor=2,
        )
    if scheduler == "pbt":
        mutations = {
            k: p.to_tune()
            for k, p in recipe.space.items()
            if k in ("lr", "weight_decay", "dropout", "label_smoothing", "augment_strength", "focal_gamma")
        }
        if not mutations:
            raise ConfigError(
                f"scheduler pbt needs a continuous key (lr, weight_decay, ...) in the space of {recipe.id}"
            )
        return PopulationBasedTraining(
            metric="val_metric",
            mode="max",
            time_attr="training_iteration",
            perturbation_interval=1,
            hyperparam_mutations=mutations,
        )
    return FIFOScheduler()


def _resumed_run(out: Path, prepared: Path) -> tuple[Recipe, dict[str, Any]]:
    import json

    if not (out / "run.json").exists():
        raise SweepError(
            f"cannot resume: {out} has no run.json (no sweep was started there)",
            fix=f"start it without --resume: medzoo sweep {prepared} --out {out} ...",
        )
    run_info = json.loads((out / "run.json").read_text())
    if Path(run_info["prepared"]) != prepared:
        raise SweepError(
            f"cannot resume {out}: it ran on {run_info['prepared']}, got {prepared}",
            fix=f"medzoo sweep {run_info['prepared']} --out {out} --resume",
        )
    rec = resolve_recipe(
        recipe=run_info.get("recipe"), space=run_info.get("space_file"), smoke=run_info["smoke"]
    )
    return rec, run_info


@contextlib.contextmanager
def _ctrl_c_interrupts() -> Iterator[None]:
    """Let Ctrl-C raise KeyboardInterrupt out of ``Tuner.fit``.

    Ray Tune's own SIGINT handler makes ``fit`` return normally with trials left unfinished, which a
    caller would mistake for a finished sweep (and go on to test and publish it). Trials checkpoint
    every epoch and Tune saves its experiment state as it goes, so ``--resume`` continues from there.
    """
    key = "TUNE_DISABLE_SIGINT_HANDLER"
    before = os.environ.get(key)
    os.environ[key] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def _trial_dirname(trial: Any) -> str:
    return str(trial.trial_id)  # short, stable folder names (Tune's default embeds the whole config)


def run(
    *,
    prepared: str | Path,
    out: str | Path,
    recipe: str | Recipe | None = None,
    space: str | Path | None = None,
    samples: int = 8,
    scheduler: str = "asha",
    search: str = "optuna",
    objectives: Sequence[str] = ("val_metric",),
    cpus_per_trial: float = 1,
    gpus_per_trial: float = 0,
    workers_per_trial: int = 1,
    address: str | None = None,
    resume: bool = False,
    smoke: bool = False,
    time_budget_s: float | None = None,
    test_top_k: int = 3,
    max_failures: int = 2,
    max_concurrent: int | None = None,
    seed: int = 0,
    progress: bool = True,
    resamples: int = 1000,
):
    """Run (or resume) a sweep and write the run folder; returns the result table."""
    from medzoo.cluster.connect import connect
    from medzoo.search.results import collect
    from medzoo.search.trial import DataInfo

    if scheduler not in SCHEDULERS:
        raise ConfigError(f"scheduler must be one of {', '.join(SCHEDULERS)}, got scheduler={scheduler!r}")
    if search not in SEARCHES:
        raise ConfigError(f"search must be one of {', '.join(SEARCHES)}, got search={search!r}")
    objectives = tuple(objectives)
    if not objectives or objectives[0] != "val_metric" or any(o not in OBJECTIVES for o in objectives):
        raise ConfigError(f"objectives must be val_metric or val_metric,gmacs, got {','.join(objectives)!r}")
    if scheduler == "pbt" and search == "optuna":
        raise ConfigError(
            "scheduler pbt mutates configs itself and cannot follow an Optuna searcher",
            fix="use --search random with --scheduler pbt",
        )
    for name, value, low in (
        ("samples", samples, 1),
        ("workers_per_trial", workers_per_trial, 1),
        ("test_top_k", test_top_k, 0),
        ("max_failures", max_failures, 0),
    ):
        if value < low:
            raise ConfigError(f"{name} >= {low} must hold, got {name}={value}")
    if cpus_per_trial <= 0 or gpus_per_trial < 0:
        raise ConfigError(
            f"cpus_per_trial > 0 and gpus_per_trial >= 0 must hold, got {cpus_per_trial}, {gpus_per_trial}"
        )

    prepared, out = Path(prepared).expanduser().resolve(), Path(out).expanduser().resolve()
    data = DataInfo.read(prepared)
    tune_path = out / TUNE_DIR
    if resume:  # everything but the Ray address comes from the run folder
        rec, run_info = _resumed_run(out, prepared)
        res = run_info["resources"]
        cpus_per_trial, gpus_per_trial = res["cpus_per_trial"], res["gpus_per_trial"]
        workers_per_trial, max_failures = res["workers_per_trial"], run_info["max_failures"]
        test_top_k, seed = run_info["test_top_k"], run_info["seed"]
    else:
        if out.exists() and any(out.iterdir()):
            raise SweepError(
                f"run folder {out} exists and is not empty; a new sweep never overwrites one",
                fix="pass --resume to continue it, or choose another --out",
            )
        rec = resolve_recipe(recipe=recipe, space=space, smoke=smoke)
        if rec.dataset is not None and rec.dataset != data.dataset:
            raise ConfigError(
                f"recipe {rec.id!r} is for dataset {rec.dataset!r}, but {prepared} holds {data.dataset!r}",
                fix=f"use a space file with `base: {rec.id}` and `dataset: {data.dataset}`",
            )
        run_info = {
            "dataset": data.dataset,
            "prepared": str(prepared),
            "recipe": rec.id if space is None else None,
            "space_file": str(Path(space).resolve()) if space is not None else None,
            "space": rec.space_dict(),
            "point": rec.point.to_dict(),
            "scheduler": scheduler,
            "search": search,
            "objectives": list(objectives),
            "samples": samples,
            "budget": {
                "time_budget_s": time_budget_s,
                "samples": samples,
                "epochs": rec.point.epochs,
                "limit": rec.limit,
            },
            "resources": {
                "cpus_per_trial": cpus_per_trial,
                "gpus_per_trial": gpus_per_trial,
                "workers_per_trial": workers_per_trial,
            },
            "max_failures": max_failures,
            "test_top_k": test_top_k,
            "seed": seed,
            "smoke": smoke,
            "started": _now(),
            "finished": None,
            "primary_metric": data.primary_metric,
            "mode": "max",
        }
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "run.json", run_info)

    import ray
    from ray import tune

    run_info["ray_version"] = ray.__version__
    setup = SweepSetup(
        prepared=str(prepared),
        out=str(out),
        limit=dict(rec.limit),
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        workers_per_trial=workers_per_trial,
        max_failures=max_failures,
    )
    if workers_per_trial > 1:
        resources: Any = {"CPU": 0.1}  # the trial only drives its TorchTrainer's workers
    else:
        resources = {"CPU": cpus_per_trial, "GPU": gpus_per_trial}
    trainable = tune.with_resources(tune.with_parameters(tune_trainable, setup=setup), resources)
    connection = connect(address=address)
    try:
        if resume and tune.Tuner.can_restore(str(tune_path)):
            tuner = tune.Tuner.restore(
                str(tune_path), trainable=trainable, resume_unfinished=True, resume_errored=True
            )
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=rec.tune_space(),
                tune_config=tune.TuneConfig(
                    search_alg=_searcher(search, rec, objectives, seed),
                    scheduler=_scheduler(scheduler, rec, rec.point.epochs),
                    num_samples=samples,
                    time_budget_s=time_budget_s,
                    max_concurrent_trials=max_concurrent,
                    trial_dirname_creator=_trial_dirname,
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    name=TUNE_DIR,
                    storage_path=str(out),
                    failure_config=tune.FailureConfig(max_failures=max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                    verbose=1 if progress else 0,
                ),
            )
        with _ctrl_c_interrupts():
            grid = tuner.fit()
        table = collect(
            grid,
            out=out,
            run_info=run_info,
            prepared=prepared,
            test_top_k=test_top_k,
            resamples=resamples,
            seed=seed,
        )
    finally:
        connection.close()
    run_info["finished"] = _now()
    atomic_write_json(out / "run.json", run_info)
    if table.best is None:
        errors = [e for e in table.frame.get("error", []) if e]
        reason = (
            f"; first error: {errors[0]}"
            if errors
            else f" within time_budget_s={run_info['budget']['time_budget_s']}"
        )
        raise SweepError(
            f"no trial of {out} finished an epoch, so there is no best trial{reason} "
            f"(per-trial status in {out / 'results.parquet'})",
            fix="fix the error above, or raise --time-budget-s / lower the smoke scale",
        )
    return table
