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
    folder on the driver; ``train_storage`` the folder or URI in the run's storage
    where data-parallel trials keep their Ray Train runs (state and checkpoints),
    reachable from every node (``out/train`` when None).
    """

    prepared: str
    out: str
    train_storage: str | None = None
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
#: the objectives (sweep.OBJECTIVES) as "no value" in that result: Tune refuses a result that lacks the
#: metric its searcher or scheduler optimises (and would retry the trial), so the report carries NaN for them
_NO_VALUE = {"val_metric": float("nan"), "gmacs": float("nan")}


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
        tune.report({FINAL_ERROR: exc.message, **_NO_VALUE})
        raise


def _run_trial(config: dict[str, Any], setup: SweepSetup) -> None:
    import torch
    from ray import tune

    from medzoo.search.config import from_dict
    from medzoo.search.trial import train_trial

    torch.set_num_threads(max(1, int(setup.cpus_per_trial)))
    cfg = from_dict(dict(config), where="trial config")
    checkpoint = tune.get_checkpoint()
    if setup.workers_per_trial > 1:  # the workers read it where they run, from storage
        _data_parallel(cfg.to_dict(), setup, checkpoint)
        return
    with checkpoint.as_directory() if checkpoint else contextlib.nullcontext(None) as resume_dir:

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


def _data_parallel(config: dict[str, Any], setup: SweepSetup, resume: Any) -> None:
    """W data-parallel workers (TorchTrainer) inside one Tune trial, reporting back to Tune.

    The Ray Train run lives in the run's storage, named after the Tune trial: when a worker's
    node is lost, Ray Train gives up at once (``max_failures=0``) and Tune retries the trial as
    it retries any other; the retried trial's trainer, same name and storage, restores Ray Train's
    own latest checkpoint (``ray.train.get_checkpoint``), else Tune's (``resume``). Every epoch's
    checkpoint is also reported to Tune (:func:`_relay_reports`), so the sweep's results read it
    as they read a single-worker trial's. Unreadable data ends the trial without retries, as for
    one worker: the worker's :class:`~medzoo.errors.DataUnreadableError` is raised here again.
    """
    import threading

    from ray.util.queue import Queue

    from medzoo.storage import location

    fs, _ = location(setup.train_storage or str(Path(setup.out) / "train")).filesystem()
    reports: Queue = Queue(actor_options={"num_cpus": 0})
    trainer = _trainer(config, setup, resume, reports)
    failure: list[BaseException] = []

    def fit() -> None:
        try:
            trainer.fit()
        except BaseException as exc:  # re-raised in the trial's thread, below
            failure.append(exc)

    runner = threading.Thread(target=fit, name="medzoo-data-parallel-fit", daemon=True)
    runner.start()
    _relay_reports(reports, runner, filesystem=fs)
    if failure:
        raise _data_error(failure[0]) or failure[0]


def _trainer(config: dict[str, Any], setup: SweepSetup, resume: Any, reports: Any) -> Any:
    """The trial's TorchTrainer: its run in the run's storage, named after the trial, no retries of its own."""
    from ray import tune
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from medzoo.search.tune_callbacks import ReportToTune
    from medzoo.storage import location

    fs, path = location(setup.train_storage or str(Path(setup.out) / "train")).filesystem()
    use_gpu = setup.gpus_per_trial > 0
    per_worker = {"CPU": setup.cpus_per_trial, **({"GPU": setup.gpus_per_trial} if use_gpu else {})}
    return TorchTrainer(
        _data_parallel_loop,
        train_loop_config={"config": config, "setup": setup, "resume": resume},
        scaling_config=ScalingConfig(
            num_workers=setup.workers_per_trial, use_gpu=use_gpu, resources_per_worker=per_worker
        ),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=RunConfig(
            name=f"train-{tune.get_context().get_trial_id()}",
            storage_path=path,
            storage_filesystem=fs,
            callbacks=[ReportToTune(reports)],
            failure_config=FailureConfig(max_failures=0),
        ),
    )


def _relay_reports(reports: Any, runner: Any, *, filesystem: Any) -> None:
    """``tune.report`` each epoch the trainer reported, with its checkpoint in the run's storage."""
    from ray import tune
    from ray.util.queue import Empty

    while True:
        try:
            metrics, checkpoint_path = reports.get(timeout=0.5)
        except Empty:
            if not runner.is_alive() and reports.empty():
                return
            continue
        checkpoint = tune.Checkpoint(checkpoint_path, filesystem=filesystem) if checkpoint_path else None
        tune.report(metrics, checkpoint=checkpoint)


def _data_error(exc: BaseException) -> BaseException | None:
    """The DataUnreadableError a worker raised, if that is why the trainer failed."""
    from medzoo.errors import DataUnreadableError

    for error in (getattr(exc, "worker_failures", None) or {}).values():
        while error is not None:
            if isinstance(error, DataUnreadableError):
                return error
            error = error.__cause__
    return None


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

    checkpoint = ray.train.get_checkpoint() or loop_config["resume"]
    with checkpoint.as_directory() if checkpoint else contextlib.nullcontext(None) as resume_from:
        train_trial(
            loop_config["config"],
            prepared=_prepared_here(setup),
            report=report,
            limit=setup.limit,
            max_epochs=setup.max_epochs,
            resume_from=resume_from,
            distributed=True,
        )
