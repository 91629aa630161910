"""The sweep runner: Ray Tune + Optuna over a recipe's space, surviving failures.

The API mirrors Ray's Tuner: a validated, frozen :class:`SweepSpec` says what to
search (``SweepSpec.build(...)`` enforces "a recipe or a space, not both"),
:func:`run` runs it, and :func:`resume` continues a run folder as
``Tuner.restore`` does (everything but the Ray address comes from the folder).
``run(**options)`` keyword-only still works and builds the spec itself.

Where things live and run is decided in one place, :func:`place`: the run
folder and Tune's storage, the prepared set as the trials see it, and the
executor of the top-K test evaluation. Selection uses validation only; the
test split is touched once, for the top-K trials, by that executor.

Fault tolerance is Tune's own: a crashed trial is retried from its last
checkpoint (``FailureConfig(max_failures)``); a dead driver is resumed with
:func:`resume` (finished trials are not run again, errored ones resume from
their checkpoints); a trial whose data is unreadable ends in ERROR with its
reason in the results while the others go on. Tune's state is pickles, so it is
signed as it is written and verified before any resume (:mod:`.signing`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import functools
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medzoo.errors import ConfigError, SweepError
from medzoo.formats.run import RunBudget, RunInfo, RunResources
from medzoo.search.recipes import Recipe, load_recipe, load_space
from medzoo.search.signing import SigningKey, sign_stored, verify_or_recover
from medzoo.search.trainable import SweepSetup, tune_trainable

if TYPE_CHECKING:
    from medzoo.search.datacache import DataRef
    from medzoo.search.evaluation import TestJob
    from medzoo.search.remote import RunStore, RunTarget
    from medzoo.storage import Location

#: [perf, issue 14] checkpoints kept per trial: also how often (in a trial's checkpoints) Tune's state is saved
CHECKPOINTS_KEPT = 5

__all__ = ["SweepSpec", "Placement", "SweepSetup", "place", "run", "resume", "tune_trainable"]

SCHEDULERS = ("asha", "pbt", "fifo")
SEARCHES = ("optuna", "random")
OBJECTIVES = {"val_metric": "max", "gmacs": "min"}
TUNE_DIR = "tune"
PBT_KEYS = ("lr", "weight_decay", "dropout", "label_smoothing", "augment_strength", "focal_gamma")

#: runs the top-K test evaluations; returns their metrics dicts in the jobs' order
Evaluator = Callable[[Sequence["TestJob"]], list[dict[str, Any]]]


def evaluate_locally(jobs: Sequence[TestJob]) -> list[dict[str, Any]]:
    """The embedded default :data:`Evaluator`: in the driver, one job after another."""
    from medzoo.search.evaluation import evaluate_jobs_locally

    return evaluate_jobs_locally(jobs)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# -- what to search -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SweepSpec:
    """Everything that defines a sweep (recorded in run.json); validated when built.

    Build it with :meth:`build` (resolves the recipe or space) or, on resume,
    :meth:`from_run_info`. Execution choices that may differ between a run and
    its resume (Ray address, progress output, signing key) are arguments of
    :func:`run` / :func:`resume` instead.
    """

    prepared: Path
    out: Path
    recipe: Recipe
    recipe_id: str | None = None  # a built-in recipe's id (None for a space file)
    space_file: str | None = None
    samples: int = 8
    scheduler: str = "asha"
    search: str = "optuna"
    objectives: tuple[str, ...] = ("val_metric",)
    cpus_per_trial: float = 1
    gpus_per_trial: float = 0
    workers_per_trial: int = 1
    smoke: bool = False
    time_budget_s: float | None = None
    test_top_k: int = 3
    max_failures: int = 2
    max_concurrent: int | None = None
    seed: int = 0
    resamples: int = 1000

    def __post_init__(self) -> None:
        _check_choices(self)
        _check_numbers(self)

    @classmethod
    def build(
        cls,
        *,
        prepared: str | Path,
        out: str | Path,
        recipe: str | Recipe | None = None,
        space: str | Path | None = None,
        smoke: bool = False,
        **options: Any,
    ) -> SweepSpec:
        """Resolve ``recipe`` (an id or a Recipe) or ``space`` (a YAML file), exactly one of them."""
        if (recipe is None) == (space is None):
            raise ConfigError(
                "a sweep needs exactly one of a recipe or a space, "
                f"got recipe={recipe!r} and space={str(space) if space else None!r}",
                fix="pass --recipe ID or --space FILE.yaml, not both",
            )
        unknown = sorted(set(options) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown sweep option(s): {', '.join(unknown)}")
        return cls(
            prepared=Path(prepared).expanduser().resolve(),
            out=Path(out).expanduser().resolve(),
            recipe=resolve_recipe(recipe=recipe, space=space, smoke=smoke),
            recipe_id=(recipe.id if isinstance(recipe, Recipe) else recipe) if space is None else None,
            space_file=str(Path(space).expanduser().resolve()) if space is not None else None,
            smoke=smoke,
            **{**options, "objectives": tuple(options.get("objectives", ("val_metric",)))},
        )

    @classmethod
    def from_run_info(cls, info: RunInfo, *, out: Path) -> SweepSpec:
        """The spec a run folder's run.json records (for :func:`resume`)."""
        return cls(
            prepared=Path(info.prepared),
            out=out,
            recipe=resolve_recipe(recipe=info.recipe, space=info.space_file, smoke=info.smoke),
            recipe_id=info.recipe,
            space_file=info.space_file,
            samples=info.samples,
            scheduler=info.scheduler,
            search=info.search,
            objectives=tuple(info.objectives),
            cpus_per_trial=info.resources.cpus_per_trial,
            gpus_per_trial=info.resources.gpus_per_trial,
            workers_per_trial=info.resources.workers_per_trial,
            smoke=info.smoke,
            time_budget_s=info.budget.time_budget_s,
            test_top_k=info.test_top_k,
            max_failures=info.max_failures,
            max_concurrent=info.max_concurrent,
            seed=info.seed,
            resamples=info.resamples,
        )

    def run_info(self, *, dataset: str, primary_metric: str) -> RunInfo:
        """run.json of docs/contracts.md "Runs" ("finished" is set when the sweep ends)."""
        rec = self.recipe
        return RunInfo(
            dataset=dataset,
            prepared=str(self.prepared),
            recipe=self.recipe_id,
            space_file=self.space_file,
            space=rec.space_dict(),
            point=rec.point.to_dict(),
            scheduler=self.scheduler,
            search=self.search,
            objectives=self.objectives,
            samples=self.samples,
            budget=RunBudget(
                time_budget_s=self.time_budget_s,
                samples=self.samples,
                epochs=rec.point.epochs,
                limit=rec.limit,
            ),
            resources=RunResources(
                cpus_per_trial=self.cpus_per_trial,
                gpus_per_trial=self.gpus_per_trial,
                workers_per_trial=self.workers_per_trial,
            ),
            max_failures=self.max_failures,
            max_concurrent=self.max_concurrent,
            test_top_k=self.test_top_k,
            seed=self.seed,
            resamples=self.resamples,
            smoke=self.smoke,
            started=_now(),
            primary_metric=primary_metric,
            study=study_name(self),
        )


def _check_choices(spec: SweepSpec) -> None:
    if spec.scheduler not in SCHEDULERS:
        raise ConfigError(
            f"scheduler must be one of {', '.join(SCHEDULERS)}, got scheduler={spec.scheduler!r}"
        )
    if spec.search not in SEARCHES:
        raise ConfigError(f"search must be one of {', '.join(SEARCHES)}, got search={spec.search!r}")
    objectives = spec.objectives
    if not objectives or objectives[0] != "val_metric" or any(o not in OBJECTIVES for o in objectives):
        raise ConfigError(f"objectives must be val_metric or val_metric,gmacs, got {','.join(objectives)!r}")
    if spec.scheduler == "pbt" and spec.search == "optuna":
        raise ConfigError(
            "scheduler pbt mutates configs itself and cannot follow an Optuna searcher",
            fix="use --search random with --scheduler pbt",
        )


def _check_numbers(spec: SweepSpec) -> None:
    for name, low in (("samples", 1), ("workers_per_trial", 1), ("test_top_k", 0), ("max_failures", 0)):
        if getattr(spec, name) < low:
            raise ConfigError(f"{name} >= {low} must hold, got {name}={getattr(spec, name)}")
    if spec.cpus_per_trial <= 0 or spec.gpus_per_trial < 0:
        raise ConfigError(
            "cpus_per_trial > 0 and gpus_per_trial >= 0 must hold, "
            f"got {spec.cpus_per_trial}, {spec.gpus_per_trial}"
        )
    if spec.resamples < 1 or (spec.max_concurrent is not None and spec.max_concurrent < 1):
        raise ConfigError(
            f"resamples >= 1 and max_concurrent >= 1 must hold, got {spec.resamples}, {spec.max_concurrent}"
        )


def resolve_recipe(*, recipe: str | Recipe | None, space: str | Path | None, smoke: bool) -> Recipe:
    if isinstance(recipe, Recipe):
        return recipe.smoked() if smoke and not recipe.is_smoke else recipe
    if space is not None:
        return load_space(space, smoke=smoke)
    if recipe is None:
        raise ConfigError("a sweep needs a recipe or a space", fix="pass --recipe ID or --space FILE.yaml")
    return load_recipe(recipe, smoke=smoke)


# -- where it lives and runs --------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a sweep's pieces live and run: the one place clusters change.

    ``storage_path``/``storage_filesystem`` go to Tune's RunConfig (the run folder's
    ``tune/`` lives there); ``prepared`` is the prepared set as trials open it;
    ``evaluate`` runs the top-K test evaluations.
    """

    run_dir: Path
    storage_path: str
    storage_filesystem: Any = None
    prepared: str = ""
    evaluate: Evaluator = evaluate_locally
    store: RunStore | None = None  # the run in object storage (None: the run folder is the storage)
    data: DataRef | None = None  # the prepared set as every node reaches it (None: ``prepared`` in place)

    @property
    def tune_dir(self) -> Path:
        return self.run_dir / TUNE_DIR


def place(spec: SweepSpec, target: RunTarget | None = None, *, joined: bool = False) -> Placement:
    """Local run folder, local prepared set, test evaluation in the driver (the embedded default).

    With a ``target`` (``--storage``/``--out`` URI, see :mod:`medzoo.search.remote`): Tune's state
    in storage, the trials' data through each node's cache, and, on a joined cluster or with GPUs,
    the top-K test evaluation as Ray tasks with the trials' resources.
    """
    if target is None:
        return Placement(run_dir=spec.out, storage_path=str(spec.out), prepared=str(spec.prepared))
    from medzoo.search.remote import ClusterEvaluator

    storage_path, fs = target.store.tune_storage() if target.store else (str(spec.out), None)
    evaluate: Evaluator = evaluate_locally
    if joined or spec.gpus_per_trial > 0:
        evaluate = ClusterEvaluator(
            data=target.data, num_cpus=spec.cpus_per_trial, num_gpus=spec.gpus_per_trial
        )
    return Placement(
        run_dir=spec.out,
        storage_path=storage_path,
        storage_filesystem=fs,
        prepared=str(target.prepared),
        evaluate=evaluate,
        store=target.store,
        data=target.data,
    )


# -- Tune's pieces ------------------------------------------------------------------------------


def _searcher(spec: SweepSpec, placement: Placement):
    objectives, recipe = spec.objectives, spec.recipe
    metric = list(objectives) if len(objectives) > 1 else objectives[0]
    mode = [OBJECTIVES[o] for o in objectives] if len(objectives) > 1 else OBJECTIVES[objectives[0]]
    points = recipe.points_to_evaluate()[: spec.samples]  # Tune would run surplus points beyond num_samples
    grid = [k for k, p in recipe.space.items() if p.kind == "grid"]
    if grid and spec.search == "optuna":
        raise ConfigError(
            f"grid keys ({', '.join(grid)}) enumerate values and need --search random, got optuna",
            fix="use --search random, or type: choice for Optuna",
        )
    if spec.search == "optuna":
        import optuna

        from medzoo.search.optuna_search import STUDY_FILE, RunStudySearch, journal_storage

        return RunStudySearch(
            metric=metric,
            mode=mode,
            points_to_evaluate=points or None,
            sampler=optuna.samplers.TPESampler(seed=spec.seed),
            study_name=study_name(spec),
            storage=journal_storage(placement.run_dir / STUDY_FILE),
        )
    from ray.tune.search import BasicVariantGenerator

    return BasicVariantGenerator(points_to_evaluate=points or None, random_state=spec.seed)


def study_name(spec: SweepSpec) -> str | None:
    """The Optuna study's name in the run's journal (the run folder's name); None without Optuna."""
    return spec.out.name if spec.search == "optuna" else None


def _scheduler(spec: SweepSpec):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining

    epochs = spec.recipe.point.epochs
    if spec.scheduler == "asha":
        return ASHAScheduler(
            metric="val_metric",
            mode="max",
            time_attr="training_iteration",
            max_t=max(epochs, 1),
            # a third of the epochs before the first cut: validation on small sets is flat for the
            # first epochs (a quarter, 2 of 8 smoke epochs, stopped most trials still at chance)
            grace_period=max(1, epochs // 3),
            reduction_factor=2,
        )
    if spec.scheduler == "pbt":
        mutations = {k: p.to_tune() for k, p in spec.recipe.space.items() if k in PBT_KEYS}
        if not mutations:
            raise ConfigError(
                f"scheduler pbt needs a continuous key (lr, weight_decay, ...) in the space of {spec.recipe.id}"
            )
        return PopulationBasedTraining(
            metric="val_metric",
            mode="max",
            time_attr="training_iteration",
            perturbation_interval=1,
            hyperparam_mutations=mutations,
            require_attrs=False,  # a trial with unreadable data reports only its final error
        )
    return FIFOScheduler()


def _trial_dirname(trial: Any) -> str:
    return str(trial.trial_id)  # short, stable folder names (Tune's default embeds the whole config)


def _trainable(spec: SweepSpec, placement: Placement):
    from ray import tune

    setup = SweepSetup(
        prepared=placement.prepared,
        out=str(placement.run_dir),
        train_storage=(_tune_location(placement).parent / "train").uri,  # Ray Train runs of DP trials
        limit=dict(spec.recipe.limit),
        cpus_per_trial=spec.cpus_per_trial,
        gpus_per_trial=spec.gpus_per_trial,
        workers_per_trial=spec.workers_per_trial,
        max_failures=spec.max_failures,
        data=placement.data,
    )
    if spec.workers_per_trial > 1:
        resources: Any = {"CPU": 0.1}  # the trial only drives its TorchTrainer's workers
    else:
        resources = {"CPU": spec.cpus_per_trial, "GPU": spec.gpus_per_trial}
    trainable = tune.with_parameters(tune_trainable, setup=setup)
    # Tune registers trainables by name in a registry the whole Ray job shares: the concurrent sweeps of a
    # campaign each need a name of their own (else one sweep's trials run with another's setup and data),
    # and ``Tuner.restore`` requires the same name again, so it is the run folder's name.
    trainable.__name__ = f"medzoo_sweep_{Path(spec.out).name}"
    return tune.with_resources(trainable, resources)


def _new_tuner(spec: SweepSpec, placement: Placement, key: SigningKey, *, progress: bool, metric: str):
    """A fresh Tuner; ``tuner.pkl`` (written at construction) is signed at once."""
    from ray import tune

    from medzoo.search.tune_callbacks import FinalErrors, SignState

    signer = SignState(key.path, _tune_location(placement).uri)
    signer.before_seal = _journal_pusher(placement)
    watcher = _progress_writer(spec, placement, metric=metric, echo=progress)
    tuner = tune.Tuner(
        _trainable(spec, placement),
        param_space=spec.recipe.tune_space(),
        tune_config=tune.TuneConfig(
            search_alg=_searcher(spec, placement),
            scheduler=_scheduler(spec),
            num_samples=spec.samples,
            max_concurrent_trials=spec.max_concurrent,
            trial_dirname_creator=_trial_dirname,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=TUNE_DIR,
            storage_path=placement.storage_path,
            storage_filesystem=placement.storage_filesystem,
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            # [perf, issue 14] Tune forces a save (and medzoo's seal) of its whole state every `num_to_keep`
            # checkpoints of a trial; trials checkpoint every epoch, so 2 meant a save every other epoch
            checkpoint_config=tune.CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
            callbacks=[signer, FinalErrors(), watcher],
            stop=watcher,  # the time budget (never before a running trial's first epoch)
            verbose=1 if progress else 0,
        ),
    )
    signer.extra = _sign_state(placement, key)
    return tuner


def _progress_writer(spec: SweepSpec, placement: Placement, *, metric: str, echo: bool):
    """The callback and stopper that keeps ``RUN/progress.json`` current and the time budget."""
    from medzoo.search.progress_tune import SweepWatch

    run_uri = placement.store.remote.uri if placement.store else str(placement.run_dir)
    return SweepWatch(
        run_uri=run_uri,
        name=Path(spec.out).name,
        samples=spec.samples,
        metric=metric,
        time_budget_s=spec.time_budget_s,
        echo=echo,
    )


def _restored_tuner(spec: SweepSpec, placement: Placement, key: SigningKey):
    """``Tuner.restore`` of a verified Tune folder (checked again here, just before unpickling).

    The restored RunConfig brings back its SignState callback, which signs the
    continued state as it is saved.
    """
    from ray import tune

    from medzoo.search.tune_callbacks import SignState

    path, fs = _verify_state(placement, key)
    tuner = tune.Tuner.restore(
        path,
        trainable=_trainable(spec, placement),
        resume_unfinished=True,
        resume_errored=True,
        storage_filesystem=fs,
    )
    local = getattr(tuner, "_local_tuner", None)  # Ray has no public accessor (None under Ray Client)
    for callback in (local.get_run_config().callbacks if local else None) or []:
        if isinstance(callback, SignState):
            callback.key_path, callback.tune_uri = str(key.path), _tune_location(placement).uri
            callback.extra = _sign_state(placement, key)
            callback.before_seal = _journal_pusher(placement)
    return tuner


def _journal_pusher(placement: Placement) -> Callable[[], None] | None:
    """Uploads the Optuna journal before each seal of Tune's state (whose searcher refers to it)."""
    from medzoo.search.optuna_search import STUDY_FILE

    store = placement.store
    return None if store is None else functools.partial(store.push_files, STUDY_FILE)


def _tune_location(placement: Placement) -> Location:
    from medzoo.storage import location

    return placement.store.tune if placement.store else location(placement.tune_dir)


def _sign_state(placement: Placement, key: SigningKey) -> dict[str, bytes]:
    return sign_stored(_tune_location(placement), key)


def _verify_state(placement: Placement, key: SigningKey) -> tuple[str, Any]:
    """Verify Tune's state (or restore its last sealed generation) before anything of it is unpickled;
    ``(path, filesystem)`` for restore."""
    verify_or_recover(_tune_location(placement), key)
    if placement.store is None:
        return str(placement.tune_dir), None
    fs, path = placement.store.tune.filesystem()
    return path, fs


def _can_restore(placement: Placement) -> bool:
    from ray import tune

    if placement.store is not None:
        return placement.store.can_restore()
    return tune.Tuner.can_restore(str(placement.tune_dir))


@contextlib.contextmanager
def _interrupt_watch() -> Iterator[Callable[[], bool]]:
    """Tell whether Ctrl-C reached ``Tuner.fit``.

    Tune's SIGINT handler ends ``fit`` normally, with trials unfinished, after saving its
    state; a caller must not mistake that for a finished sweep. Tune restores the handler it
    found on its first SIGINT, so a sentinel installed here tells us afterwards that one came
    (no environment variable needed). A second Ctrl-C raises at once.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def sentinel(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, sentinel)
    try:
        yield lambda: signal.getsignal(signal.SIGINT) is sentinel
    finally:
        signal.signal(signal.SIGINT, before)


# -- the driver ---------------------------------------------------------------------------------


def run(
    spec: SweepSpec | None = None,
    /,
    *,
    address: str | None = None,
    progress: bool = True,
    signing_key: SigningKey | None = None,
    resume: bool = False,
    target: RunTarget | None = None,
    **options: Any,
):
    """Run a sweep and write its run folder; returns the :class:`~medzoo.search.results.ResultTable`.

    ``run(spec)`` with a :class:`SweepSpec`, or ``run(prepared=..., out=..., recipe=... | space=...,
    ...)`` with the spec's fields as keywords. ``resume=True`` is :func:`resume` on ``out``.
    ``signing_key`` defaults to the user's key under ``$MEDZOO_HOME``.
    """
    if resume:
        if spec is not None:
            raise ConfigError("resume takes the run folder, not a spec", fix="call resume(spec.out)")
        return _resume_run(
            options["out"],
            prepared=options.get("prepared"),
            address=address,
            progress=progress,
            signing_key=signing_key,
            target=target,
        )
    if spec is None:
        spec = SweepSpec.build(**options)
    elif options:
        raise ConfigError(f"give a SweepSpec or keyword options, not both (got {', '.join(sorted(options))})")
    from medzoo.search.trial import DataInfo

    data = DataInfo.read(spec.prepared)
    if spec.recipe.dataset is not None and spec.recipe.dataset != data.dataset:
        raise ConfigError(
            f"recipe {spec.recipe.id!r} is for dataset {spec.recipe.dataset!r}, "
            f"but {spec.prepared} holds {data.dataset!r}",
            fix=f"use a space file with `base: {spec.recipe.id}` and `dataset: {data.dataset}`",
        )
    run_info = spec.run_info(dataset=data.dataset, primary_metric=data.primary_metric)
    if target is not None:  # what the trials open: the set's URI in storage (or its shared path)
        run_info = dataclasses.replace(run_info, prepared=target.data.uri)
    claim_run_folder(spec.out, run_info)
    return _execute(
        spec, run_info, restore=False, address=address, progress=progress, key=signing_key, target=target
    )


def claim_run_folder(out: Path, run_info: RunInfo) -> None:
    """Make ``out`` this sweep's run folder, or fail: two sweeps never write into one folder.

    ``run.json`` is the claim: it is created without replacing (an exclusive create), so
    of two sweeps started at once on the same ``--out`` exactly one gets it and the other
    fails here, before Ray starts and before it wrote anything.
    """
    from medzoo.errors import StorageError

    taken = SweepError(
        f"run folder {out} exists and is not empty (another sweep owns it); a new sweep never overwrites one",
        fix="pass --resume to continue it, or choose another --out",
    )
    if out.exists() and not out.is_dir():
        raise SweepError(f"run folder {out} is a file, not a folder", fix="choose another --out")
    if out.exists() and any(out.iterdir()):
        raise taken
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SweepError(
            f"cannot create run folder {out}: {exc.strerror or exc}", fix="choose a writable --out"
        ) from None
    try:
        run_info.write(out, replace=False)
    except StorageError:
        if (out / RunInfo.FILENAME).exists():  # lost the race to a sweep started at the same time
            raise taken from None
        raise


def resume(
    run_dir: str | Path,
    *,
    prepared: str | Path | None = None,
    address: str | None = None,
    progress: bool = True,
    signing_key: SigningKey | None = None,
    target: RunTarget | None = None,
):
    """Continue the sweep of ``run_dir`` from its recorded spec (``Tuner.restore``).

    Finished trials are not run again; unfinished and errored ones continue from their
    checkpoints. A run folder whose sweep never saved Tune state starts its trials afresh.
    ``prepared``, when given, must be the prepared set the run was started on.
    """
    out = Path(run_dir).expanduser().resolve()
    if not (out / "run.json").is_file():
        raise SweepError(
            f"cannot resume: {out} has no run.json (no sweep was started there)",
            fix=f"start it without --resume: medzoo sweep PREPARED --out {out} ...",
        )
    run_info = RunInfo.read(out)
    if prepared is not None and Path(run_info.prepared) != Path(prepared).expanduser().resolve():
        raise SweepError(
            f"cannot resume {out}: it ran on {run_info.prepared}, got {prepared}",
            fix=f"medzoo sweep {run_info.prepared} --out {out} --resume",
        )
    spec = SweepSpec.from_run_info(run_info, out=out)
    if target is not None:  # a run in storage: its data on this machine (from medzoo.search.remote)
        spec = dataclasses.replace(spec, prepared=target.prepared)
    return _execute(
        spec, run_info, restore=True, address=address, progress=progress, key=signing_key, target=target
    )


_resume_run = resume  # ``run``'s own ``resume`` flag hides the function's name inside it


def _execute(
    spec: SweepSpec,
    run_info: RunInfo,
    *,
    restore: bool,
    address: str | None,
    progress: bool,
    key: SigningKey | None,
    target: RunTarget | None = None,
):
    """Verify (on restore), connect, fit (new or restored), collect the results, record the end."""
    import ray

    from medzoo.cluster.connect import connect

    key = key or _default_key()
    placement = place(spec, target, joined=address is not None)
    restore = restore and _can_restore(placement)
    if restore:  # before Ray starts: a refused run costs nothing
        _verify_state(placement, key)
    run_info = dataclasses.replace(run_info, ray_version=ray.__version__)
    connection = connect(address=address)
    try:
        _check_reach(spec, placement, joined=connection.joined)
        if restore:
            tuner = _restored_tuner(spec, placement, key)
        else:
            tuner = _new_tuner(spec, placement, key, progress=progress, metric=run_info.primary_metric)
        pushing = placement.store.pushing() if placement.store else contextlib.nullcontext()
        with _interrupt_watch() as interrupted, pushing:
            grid = tuner.fit()
            stopped_by_user = interrupted()
        _sign_state(placement, key)
        if stopped_by_user:
            raise KeyboardInterrupt(f"sweep {spec.out} interrupted; continue it with --resume")
        table = _collect(spec, placement, grid, run_info)
    finally:
        connection.close()
    dataclasses.replace(run_info, finished=_now()).write(spec.out)
    if placement.store is not None:
        placement.store.push()  # run.json, results.parquet, best.json, trials/ into storage
    _require_a_best(table, spec)
    return table


def _check_reach(spec: SweepSpec, placement: Placement, *, joined: bool) -> None:
    """Fail before any trial starts: storage every node reaches, data every node sees.

    On a joined cluster a local run folder or prepared set that some node does not see would
    fail every trial there at its first checkpoint (:mod:`medzoo.search.remote`).
    """
    from medzoo.search.remote import check_data, check_storage
    from medzoo.storage import location

    check_storage(storage=placement.store.remote if placement.store else location(spec.out), joined=joined)
    check_data(prepared=placement.data.uri if placement.data else placement.prepared, joined=joined)
    if placement.store is not None:
        placement.store.push()  # run.json in storage at once: a killed driver resumes from the URI alone


def _default_key() -> SigningKey:
    from medzoo.paths import resolve_home

    return SigningKey.load_or_create(resolve_home())


def _collect(spec: SweepSpec, placement: Placement, grid: Any, run_info: RunInfo):
    from medzoo.search.results import collect

    return collect(
        grid,
        out=placement.run_dir,
        run_info=run_info,
        prepared=Path(placement.prepared),
        test_top_k=spec.test_top_k,
        resamples=spec.resamples,
        seed=spec.seed,
        evaluate=placement.evaluate,
    )


def _require_a_best(table: Any, spec: SweepSpec) -> None:
    if table.best is not None:
        return
    errors = [e for e in table.frame.get("error", []) if e]
    reason = f"; first error: {errors[0]}" if errors else f" within time_budget_s={spec.time_budget_s}"
    raise SweepError(
        f"no trial of {spec.out} finished an epoch, so there is no best trial{reason} "
        f"(per-trial status in {spec.out / 'results.parquet'})",
        fix="fix the error above, or raise --time-budget-s / lower the smoke scale",
    )
