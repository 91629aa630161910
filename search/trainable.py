"""What runs inside the Ray workers: Tune's function trainable around :func:`medzoo.search.trial.train_trial`.

Kept apart from the driver (:mod:`medzoo.search.sweep`) because it runs on
other nodes: everything it needs arrives in a :class:`SweepSetup` (plain data,
resolved once in the driver), never through process state.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medzoo.search.datacache import DataRef


@dataclass(frozen=True)
class SweepSetup:
    """What every trial of a sweep shares (resolved once in the driver, passed to the workers).

    ``prepared`` is the prepared set as the trials open it; ``out`` the run
    folder (the data-parallel trainers keep their Ray Train state under it).
    """

    prepared: str
    out: str
    limit: dict[str, int] = field(default_factory=dict)
    max_epochs: int | None = None
    cpus_per_trial: float = 1
    gpus_per_trial: float = 0
    workers_per_trial: int = 1
    max_failures: int = 2
    data: DataRef | None = None  # set: the trials open the set through their node's cache (datacache)


def _prepared_here(setup: SweepSetup) -> str:
    """The prepared set on this node: in place, or materialised once into the node's cache."""
    if setup.data is None:
        return setup.prepared
    from medzoo.paths import resolve_home
    from medzoo.search.datacache import materialize

    return str(materialize(setup.data, cache_root=resolve_home() / "cache").path)


#: result key: the trial's next failure is final (tune_callbacks.FinalErrors)
FINAL_ERROR = "medzoo_final_error"


def tune_trainable(config: dict[str, Any], setup: SweepSetup) -> None:
    """The Tune function trainable: one trial, resumed from Tune's checkpoint if there is one.

    Data that cannot be read fails the same way on every attempt, so such a trial is
    not retried: it reports :data:`FINAL_ERROR` (the driver's ``FinalErrors`` callback
    then allows it no more failures) and raises, so Tune records it as ERROR with its reason.
    """
    from ray import tune

    from medzoo.errors import DataUnreadableError

    try:
        _run_trial(config, setup)
    except DataUnreadableError as exc:
        tune.report({FINAL_ERROR: exc.message})
        raise


def _run_trial(config: dict[str, Any], setup: SweepSetup) -> None:
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
            prepared=_prepared_here(setup),
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
            prepared=_prepared_here(setup),
            report=report,
            limit=setup.limit,
            max_epochs=setup.max_epochs,
            resume_from=resume,
            distributed=True,
        )
