"""One trial, composed of plain functions that run (and are tested) without Ray.

``train_trial`` builds the model and loaders, trains epoch by epoch, evaluates
on validation, stops early on the chosen metric, checkpoints every epoch and
restores the best weights. Ray only supplies ``report`` (and a checkpoint to
resume from); ``medzoo train`` calls the same function directly.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    WeightedRandomSampler,
)

from medzoo.device import Runtime, detect
from medzoo.errors import ConfigError, DatasetError, DataUnreadableError, MedzooError, TrialError
from medzoo.formats.run import TrialRecord
from medzoo.paths import atomic_dir, atomic_write_json
from medzoo.scoring import probabilities
from medzoo.search import checkpoint as ckpt
from medzoo.search.config import TrialConfig, from_dict
from medzoo.search.losses import ClassificationLoss, class_weights, pos_weights
from medzoo.search.metrics import compute_metrics, primary_key
from medzoo.search.schedule import EarlyStopping, LRSchedule, mode_of

#: report(metrics, checkpoint_dir) is called once per epoch; the folder is deleted after it returns
Report = Callable[[dict[str, Any], Path], None]


@dataclass(frozen=True)
class DataInfo:
    """What a trial needs to know about its prepared dataset (read once from dataset.json)."""

    dataset: str
    task: str
    classes: tuple[str, ...]
    primary_metric: str  # key into the metrics dict, e.g. "accuracy", "auc", "macro_auc", "mean_auroc"

    @classmethod
    def read(cls, prepared: Path) -> DataInfo:
        from medzoo import datasets

        info = datasets.read_info(prepared)
        spec = datasets.get(info["id"])
        task = info.get("task", spec.task)
        return cls(
            info["id"], task, tuple(info.get("classes", spec.classes)), primary_key(spec.primary_metric, task)
        )


# -- building blocks ----------------------------------------------------------------------------


def build_model(cfg: TrialConfig, *, num_classes: int) -> nn.Module:
    """Family + head + frozen depth via the families' one factory."""
    from medzoo import zoo

    kwargs: dict[str, Any] = {"pretrained": cfg.pretrained, "dropout": cfg.dropout, "freeze": cfg.freeze}
    if cfg.head is not None:
        kwargs["head"] = cfg.head
    if cfg.hidden is not None:
        kwargs["hidden"] = tuple(cfg.hidden)
    if cfg.image_size is not None:
        kwargs["img_size"] = cfg.image_size
    return zoo.create_model(cfg.family, num_classes=num_classes, **kwargs)


def input_spec(cfg: TrialConfig, model: nn.Module) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
    """(image side, mean, std): preprocessing travels with the weights (timm's pretrained_cfg)."""
    pc = getattr(model, "pretrained_cfg", None) or {}
    size = cfg.image_size or int(pc.get("input_size", (3, 224, 224))[-1])
    mean = tuple(float(m) for m in pc.get("mean", (0.485, 0.456, 0.406)))
    std = tuple(float(s) for s in pc.get("std", (0.229, 0.224, 0.225)))
    return size, mean, std


def open_split(
    prepared: Path,
    split: str,
    cfg: TrialConfig,
    *,
    image_size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    limit: int | None = None,
    train: bool = False,
    memory_cache: bool = True,
):
    """One split as a Dataset; decoded images are kept in memory (``cache="memory"``) when they fit.

    Decoding the PNGs dominated a small model's epoch (profiled: 60% of it), and the
    same images are decoded again every epoch without the cache; with it, each image
    is decoded once per trial (once per loader worker, which stay alive between epochs).
    """
    from medzoo import datasets

    kwargs: dict[str, Any] = {
        "split": split,
        "image_size": image_size,
        "mean": mean,
        "std": std,
        "limit": limit,
        "masks": False,  # training and evaluation read no mask: decoding them doubled the PNG work
    }
    if train and cfg.augment != "none":
        kwargs["augment"] = cfg.augment
        kwargs["strength"] = cfg.augment_strength
    if cfg.sequence is not None:
        kwargs["sequence"] = cfg.sequence
    if memory_cache:
        ds = datasets.open(prepared, **kwargs, cache="memory")
        if fits_memory_cache(len(ds), image_size, workers=cfg.num_workers):
            return ds
    return datasets.open(prepared, **kwargs)


#: decoded uint8 images one trial may keep in memory per loader process (all splits share it loosely)
MEMORY_CACHE_BYTES = 2 << 30


def fits_memory_cache(rows: int, image_size: int, *, workers: int, item_bytes: int = 4) -> bool:
    """Whether ``rows`` images of ``item_bytes`` per pixel (uint8 RGB + mask: 4; float32 RGB + mask: 16)
    fit the budget in every loader process."""
    per_process = rows * image_size * image_size * item_bytes
    return per_process * max(1, workers) <= MEMORY_CACHE_BYTES


def build_loaders(
    cfg: TrialConfig,
    *,
    prepared: Path,
    image_size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    runtime: Runtime,
    limit: Mapping[str, int] | None = None,
    splits: tuple[str, ...] = ("train", "val"),
    distributed: bool = False,
    opened: Mapping[str, Dataset] | None = None,
) -> dict[str, DataLoader]:
    """Loaders per split; train is augmented and, with ``balance: sampler``, class-balanced.

    ``opened`` holds splits the caller opened itself (cross-validation's fold views, which need
    ``targets`` and ``classes``); the others are opened from ``prepared``.
    """
    limit = limit or {}
    loaders: dict[str, DataLoader] = {}
    common = {
        "num_workers": cfg.num_workers,
        "pin_memory": runtime.pin_memory,
        # workers live for the whole trial: their decoded-image caches survive between epochs
        "persistent_workers": cfg.num_workers > 0,
    }
    for split in splits:
        train = split == "train"
        # a deterministic split in the training process is built once as tensors (no PNG cache needed)
        as_tensors = cfg.num_workers == 0 and not distributed and not (train and cfg.augment != "none")
        ds = (
            opened[split]
            if opened and split in opened
            else open_split(
                prepared,
                split,
                cfg,
                image_size=image_size,
                mean=mean,
                std=std,
                limit=limit.get(split),
                train=train,
                memory_cache=not as_tensors,
            )
        )
        if as_tensors and len(ds) and fits_memory_cache(len(ds), image_size, workers=0, item_bytes=16):
            ds = TensorSplit(ds)
        if len(ds) == 0:
            raise TrialError(
                f"split {split!r} of {prepared} has no rows (sequence={cfg.sequence!r}); "
                "a trial needs data in every split",
                fix="re-prepare the dataset or check the config (e.g. --set sequence=...)",
            )
        if train:
            loaders[split] = _train_loader(ds, cfg, common, distributed=distributed)
        elif isinstance(ds, TensorSplit):
            gen = torch.Generator().manual_seed(cfg.seed)
            batches = BatchSampler(SequentialSampler(ds), cfg.batch_size, drop_last=False)
            loaders[split] = DataLoader(ds, sampler=batches, batch_size=None, generator=gen)
        else:
            # a generator of its own: an iterator without one draws its worker seed from the process RNG
            gen = torch.Generator().manual_seed(cfg.seed)
            loaders[split] = DataLoader(ds, batch_size=cfg.batch_size, shuffle=False, generator=gen, **common)
    return loaders


class TensorSplit(Dataset):
    """A split whose items never change (no augmentation), held as stacked tensors and indexed a batch at a time.

    Why: without augmentation an item is identical every epoch, so the trial builds each
    one once (decode, resize, normalise); a batch is then one tensor index instead of
    ``batch_size`` ``__getitem__`` calls and a collate, which profiling showed to cost
    more than a small model's training step. Only ``image``, ``target`` and ``index``
    are kept (what training and evaluation read); other attributes come from the split.
    """

    KEYS = ("image", "target", "index")

    def __init__(self, source: Any) -> None:
        parts: dict[str, list[torch.Tensor]] = {k: [] for k in self.KEYS}
        # a generator of its own: an iterator without one draws its seed from the process RNG
        for batch in DataLoader(source, batch_size=64, shuffle=False, generator=torch.Generator()):
            for k in self.KEYS:
                parts[k].append(torch.as_tensor(batch[k]))
        self.tensors = {k: torch.cat(v) for k, v in parts.items()}
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        rows = torch.as_tensor(indices, dtype=torch.long)
        return {k: v[rows] for k, v in self.tensors.items()}

    def __getattr__(self, name: str) -> Any:
        if name in ("source", "tensors"):  # not set yet (during construction): no recursion
            raise AttributeError(name)
        return getattr(self.source, name)


def _train_loader(ds: Any, cfg: TrialConfig, common: dict[str, Any], *, distributed: bool) -> DataLoader:
    """Shuffled (or class-balanced) batches drawn from the loader's own ``torch.Generator``.

    The generator is local to the loader (the process RNG is never seeded) and is
    re-seeded per epoch by the trial, so a resumed trial sees the same batches.
    """
    gen = torch.Generator().manual_seed(cfg.seed)
    sampler = None
    if cfg.balance == "sampler" and distributed:
        raise ConfigError(
            "balance: sampler cannot be split across data-parallel workers",
            fix="use --set balance=loss_weights (or workers_per_trial=1)",
        )
    if cfg.balance == "sampler":
        targets = np.asarray(ds.targets)
        if targets.ndim != 1:
            raise ConfigError(
                "balance: sampler needs single-label targets; use balance: loss_weights for multilabel"
            )
        counts = np.bincount(targets, minlength=len(ds.classes)).astype(float)
        weights = 1.0 / np.maximum(counts[targets], 1)
        sampler = WeightedRandomSampler(torch.as_tensor(weights), len(ds), replacement=True, generator=gen)
    if isinstance(ds, TensorSplit):  # the same sampler and batches as below, each fetched by one index
        order = sampler if sampler is not None else RandomSampler(ds, generator=gen)
        batches = BatchSampler(order, cfg.batch_size, drop_last=len(ds) > cfg.batch_size)
        return DataLoader(ds, sampler=batches, batch_size=None, generator=gen)
    return DataLoader(
        ds,
        batch_size=cfg.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        generator=gen,
        drop_last=len(ds) > cfg.batch_size,
        **common,
    )


def build_loss(
    cfg: TrialConfig, *, task: str, train_targets: np.ndarray, num_classes: int
) -> ClassificationLoss:
    cw = (
        class_weights(train_targets, num_classes)
        if cfg.balance == "loss_weights" or cfg.loss == "polyfocal"
        else None
    )
    pw = None
    if cfg.pos_weight or (cfg.balance == "loss_weights" and cfg.loss == "bce"):
        pw = pos_weights(train_targets if task == "multilabel" else (np.asarray(train_targets) == 1))
    return ClassificationLoss(
        cfg.loss,
        task=task,
        num_classes=num_classes,
        label_smoothing=cfg.label_smoothing,
        gamma=cfg.focal_gamma,
        class_weight=cw,
        pos_weight=pw,
    )


def head_parameters(model: nn.Module) -> set[int]:
    """ids of the classifier head's parameters (timm's ``get_classifier``)."""
    get = getattr(model, "get_classifier", None)
    head = get() if callable(get) else None
    return {id(p) for p in head.parameters()} if isinstance(head, nn.Module) else set()


def build_optimizer(cfg: TrialConfig, model: nn.Module) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD over trainable parameters; the head may get ``lr * head_lr_mult``."""
    head_ids = head_parameters(model) if cfg.head_lr_mult != 1.0 else set()
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ConfigError(f"freeze={cfg.freeze} leaves no trainable parameter in {cfg.family}; lower freeze")
    body = [p for p in trainable if id(p) not in head_ids]
    head = [p for p in trainable if id(p) in head_ids]
    groups = [{"params": body, "lr": cfg.lr, "base_lr": cfg.lr}]
    if head:
        groups.append({"params": head, "lr": cfg.lr * cfg.head_lr_mult, "base_lr": cfg.lr * cfg.head_lr_mult})
    groups = [g for g in groups if g["params"]]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def build_schedule(cfg: TrialConfig) -> LRSchedule:
    return LRSchedule(
        cfg.schedule,
        epochs=cfg.epochs,
        warmup_epochs=cfg.warmup_epochs,
        step_size=cfg.step_size,
        step_gamma=cfg.step_gamma,
        plateau_factor=cfg.plateau_factor,
        plateau_patience=cfg.plateau_patience,
        min_delta=cfg.min_delta,
        monitor_mode=mode_of(cfg.early_stop_metric),
    )


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> float:
    for g in optimizer.param_groups:
        g["lr"] = g["base_lr"] * factor
    return optimizer.param_groups[0]["lr"]


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    runtime: Runtime,
    scaler: torch.amp.GradScaler | None = None,
) -> float:
    """One pass over ``loader``; returns the mean training loss. A non-finite loss stops the trial."""
    model.train()
    device = runtime.torch_device()
    total, count = 0.0, 0
    for batch in loader:
        x = batch["image"].to(device, non_blocking=runtime.pin_memory)
        y = batch["target"].to(device, non_blocking=runtime.pin_memory)
        if runtime.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        with runtime.autocast():
            loss = loss_fn(model(x), y)
        if not torch.isfinite(loss):
            raise TrialError(
                f"training diverged: loss={loss.item()} at batch {count // max(len(x), 1)}",
                fix="lower lr or check the data",
            )
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        total += loss.item() * len(x)
        count += len(x)
    return total / max(count, 1)


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: DataLoader, loss_fn: nn.Module, runtime: Runtime, *, task: str
) -> dict[str, Any]:
    """Probabilities (N, C), targets and indices over ``loader``, plus the mean loss."""
    model.eval()
    device = runtime.torch_device()
    probs, targets, indices, total = [], [], [], 0.0
    for batch in loader:
        x = batch["image"].to(device)
        y = batch["target"].to(device)
        if runtime.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with runtime.autocast():
            logits = model(x)
        total += loss_fn(logits, y).item() * len(x)
        probs.append(probabilities(logits, task=task).cpu().numpy())
        targets.append(batch["target"].numpy())
        indices.append(np.asarray(batch["index"]))
    n = sum(len(p) for p in probs)
    return {
        "probs": np.concatenate(probs).astype(np.float32),
        "targets": np.concatenate(targets),
        "indices": np.concatenate(indices).astype(np.int64),
        "loss": total / max(n, 1),
    }


def state_dict_cpu(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").clone() for k, v in _unwrap(model).state_dict().items()}


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


def describe(
    cfg: TrialConfig, model: nn.Module, data: DataInfo, *, image_size: int, mean, std
) -> dict[str, Any]:
    """trial.json: everything needed to rebuild and use the model without the sweep."""
    m = _unwrap(model)
    meta = getattr(m, "medzoo", {}) or {}
    return {
        **cfg.to_dict(),
        "dataset": data.dataset,
        "task": data.task,
        "classes": list(data.classes),
        "num_classes": len(data.classes),
        "primary_metric": data.primary_metric,
        "head": meta.get("head", cfg.head),
        "model_args": meta.get("model_args", {}),
        "cam_layer": meta.get("cam_layer"),
        "image_size": image_size,
        "mean": list(mean),
        "std": list(std),
        "pretrained_cfg": dict(getattr(m, "pretrained_cfg", {}) or {}),
    }


# -- the trial ----------------------------------------------------------------------------------


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's default RNG seeded to ``seed``; the caller's RNG state is restored after.

    Why not a ``torch.Generator`` here: module initialisers (``nn.init.*``, used by
    timm's model constructors) and dropout take no generator argument. ``fork_rng``
    scopes the seed to the block, so the process RNG is left as it was found.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield


@dataclass(frozen=True)
class TrialParts:
    """The live objects of one trial, built once by :func:`build_trial`."""

    cfg: TrialConfig
    data: DataInfo
    prepared: Path
    runtime: Runtime
    model: nn.Module
    loaders: dict[str, DataLoader]
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: LRSchedule
    stopper: EarlyStopping
    scaler: Any
    monitor: str
    epochs: int
    trial_json: dict[str, Any]
    image_size: int


@dataclass
class TrialProgress:
    """The trial's bookkeeping, advanced epoch by epoch (and restored from a checkpoint)."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_val: dict[str, Any] = field(default_factory=dict)
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)
    complexity: dict[str, Any] = field(default_factory=dict)
    start: int = 0
    resumed_at: list[int] = field(default_factory=list)
    stopped_early: bool = False


def _open_loaders(cfg, data, prepared, runtime, *, image_size, mean, std, limit, distributed, opened=None):
    try:
        return build_loaders(
            cfg,
            prepared=prepared,
            image_size=image_size,
            mean=mean,
            std=std,
            runtime=runtime,
            limit=limit,
            distributed=distributed,
            opened=opened,
        )
    except DatasetError as exc:
        raise DataUnreadableError(
            f"trial could not open its data in {prepared}: {exc.message}", fix=exc.fix
        ) from exc


def build_trial(
    cfg: TrialConfig,
    *,
    prepared: Path,
    runtime: Runtime | None = None,
    max_epochs: int | None = None,
    limit: Mapping[str, int] | None = None,
    distributed: bool = False,
    opened: Mapping[str, Dataset] | None = None,
) -> TrialParts:
    """Model (initialised under the trial's seed), loaders, loss, optimiser, schedule, early stopping.

    ``opened``: splits already opened by the caller (see :func:`build_loaders`).
    """
    data = DataInfo.read(prepared)
    runtime = runtime or detect(num_workers=cfg.num_workers)
    with seeded(cfg.seed):
        model = build_model(cfg, num_classes=len(data.classes))
    image_size, mean, std = input_spec(cfg, model)
    trial_json = describe(cfg, model, data, image_size=image_size, mean=mean, std=std)
    model = model.to(runtime.torch_device())
    if runtime.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loaders = _open_loaders(
        cfg,
        data,
        prepared,
        runtime,
        image_size=image_size,
        mean=mean,
        std=std,
        limit=limit,
        distributed=distributed,
        opened=opened,
    )
    if distributed:
        import ray.train.torch as rtt

        model = rtt.prepare_model(model)
        loaders["train"] = rtt.prepare_data_loader(loaders["train"], move_to_device=False)
    targets = np.asarray(loaders["train"].dataset.targets)
    loss_fn = build_loss(cfg, task=data.task, train_targets=targets, num_classes=len(data.classes))
    monitor = cfg.early_stop_metric
    return TrialParts(
        cfg=cfg,
        data=data,
        prepared=prepared,
        runtime=runtime,
        model=model,
        loaders=loaders,
        loss_fn=loss_fn.to(runtime.torch_device()),
        optimizer=build_optimizer(cfg, model),
        schedule=build_schedule(cfg),
        stopper=EarlyStopping(monitor, patience=cfg.early_stop_patience, min_delta=cfg.min_delta),
        scaler=torch.amp.GradScaler("cuda") if runtime.amp_dtype == "float16" else None,
        monitor=monitor,
        epochs=min(cfg.epochs, max_epochs) if max_epochs else cfg.epochs,
        trial_json=trial_json,
        image_size=image_size,
    )


def start_or_resume(parts: TrialParts, resume_from: str | Path | None) -> TrialProgress:
    """Fresh bookkeeping, or the checkpoint's (loading its weights, optimiser and schedule state)."""
    if ckpt.is_resumable(Path(resume_from) if resume_from else None):
        try:
            progress = _restore(
                Path(resume_from),
                cfg=parts.cfg,
                model=parts.model,
                optimizer=parts.optimizer,
                schedule=parts.schedule,
                stopper=parts.stopper,
            )
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # a malformed or foreign checkpoint
            if isinstance(exc, MedzooError):
                raise
            raise TrialError(
                f"cannot resume from {resume_from}: {exc!r}",
                fix="delete the checkpoint and restart the trial",
            ) from None
    else:
        progress = TrialProgress(best_state=state_dict_cpu(parts.model))
    if not progress.complexity:
        with seeded(parts.cfg.seed):  # the counter feeds random inputs
            progress.complexity = measure_complexity(_unwrap(parts.model), parts.image_size)
    progress.stopped_early = parts.stopper.should_stop
    return progress


def run_epoch(parts: TrialParts, epoch: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train one epoch and evaluate on validation: (history row, validation metrics with "loss").

    The epoch runs under its own seed (dropout) and the train loader's generator is re-seeded,
    so an epoch replays identically after a resume.
    """
    t0 = time.perf_counter()
    lr = set_lr(parts.optimizer, parts.schedule.factor(epoch))
    epoch_seed = parts.cfg.seed * 100_003 + epoch
    train = parts.loaders["train"]
    sampler = getattr(train, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)
    if train.generator is not None:
        train.generator.manual_seed(epoch_seed)
    try:
        with seeded(epoch_seed):
            train_loss = train_one_epoch(
                parts.model, train, parts.loss_fn, parts.optimizer, parts.runtime, parts.scaler
            )
        out = evaluate(parts.model, parts.loaders["val"], parts.loss_fn, parts.runtime, task=parts.data.task)
    except DatasetError as exc:
        raise DataUnreadableError(
            f"trial could not read its data in {parts.prepared}: {exc.message}", fix=exc.fix
        ) from exc
    metrics = compute_metrics(out["probs"], out["targets"], task=parts.data.task, classes=parts.data.classes)
    scalars = {f"val_{k}": v for k, v in metrics.items() if isinstance(v, float | int) or v is None}
    row = {
        "epoch": epoch + 1,
        "train_loss": train_loss,
        "val_loss": out["loss"],
        **scalars,
        "lr": lr,
        "epoch_s": time.perf_counter() - t0,
    }
    return row, {"loss": out["loss"], **metrics}


def record_epoch(parts: TrialParts, progress: TrialProgress, row: dict[str, Any], metrics: dict) -> None:
    """Early stopping, the schedule's plateau step and the best-so-far weights, after one epoch."""
    progress.history.append(row)
    scalars = {k: v for k, v in row.items() if k.startswith("val_")}
    current = {"val_metric": scalars.get(f"val_{parts.data.primary_metric}"), **row}
    if parts.monitor not in current:
        allowed = sorted(k for k in current if k.startswith("val_"))
        raise ConfigError(
            f"early_stop_metric={parts.monitor!r} is not a validation metric of this task; "
            f"allowed: {', '.join(allowed)}"
        )
    value = current.get(parts.monitor)
    improved = parts.stopper.step(value if value is not None else float("nan"), row["epoch"])
    parts.schedule.observe(value)
    if improved or not progress.best_val:
        progress.best_state = state_dict_cpu(parts.model)
        progress.best_val = {"epoch": row["epoch"], **metrics}
    progress.stopped_early = parts.stopper.should_stop


def report_epoch(
    parts: TrialParts, progress: TrialProgress, report: Report, folder: ckpt.EpochCheckpoint | None = None
) -> None:
    """Hand ``report`` this epoch's result and a complete, resumable checkpoint folder.

    ``folder`` is the trial's :class:`~medzoo.search.checkpoint.EpochCheckpoint`, updated in
    place epoch after epoch (only what changed is rewritten); without one a folder is made
    for this epoch alone.
    """
    row = progress.history[-1]
    done = progress.stopped_early or row["epoch"] == parts.epochs
    state = {
        "epoch": row["epoch"],
        "schedule": parts.schedule.state_dict(),
        "early_stopping": parts.stopper.state_dict(),
        "resumed_at": progress.resumed_at,
        "stopped_early": progress.stopped_early,
    }
    own = folder is None
    folder = folder or ckpt.EpochCheckpoint()
    try:
        _update_folder(folder, parts, progress, state=state)
        report(_result(progress, parts.data, row, done), folder.path)
    finally:
        if own:
            folder.close()


def _update_folder(
    folder: ckpt.EpochCheckpoint, parts: TrialParts, progress: TrialProgress, *, state
) -> None:
    """The files of :func:`write_checkpoint` (with the resume state), each rewritten only when it changed."""
    resumed = tuple(progress.resumed_at)
    if folder.stale("trial.json", resumed):
        trial_json = {**parts.trial_json, "resumed_at_epochs": progress.resumed_at}
        record = TrialRecord.from_dict(trial_json, where=str(folder.path / TrialRecord.FILENAME))
        folder.put_bytes(TrialRecord.FILENAME, record.to_json().encode("utf-8"), key=resumed)
    if folder.stale("complexity.json", "once"):
        folder.put_json("complexity.json", progress.complexity, key="once")
    best_epoch = progress.best_val.get("epoch")
    if folder.stale("model.safetensors", best_epoch):
        folder.put_weights("model.safetensors", dict(progress.best_state), key=best_epoch)
    folder.put_json("history.json", progress.history)
    folder.put_json("val_metrics.json", {"split": "val", **progress.best_val})
    folder.put_weights("last.safetensors", _unwrap(parts.model).state_dict())
    folder.put_optimizer(parts.optimizer)
    folder.put_json("state.json", state)


def _write_folder(folder: Path, parts: TrialParts, progress: TrialProgress, *, optimizer, state) -> None:
    write_checkpoint(
        folder,
        model=parts.model,
        best_state=progress.best_state,
        optimizer=optimizer,
        state=state,
        trial_json={**parts.trial_json, "resumed_at_epochs": progress.resumed_at},
        history=progress.history,
        best_val=progress.best_val,
        complexity=progress.complexity,
    )


def train_trial(
    config: TrialConfig | Mapping[str, Any],
    *,
    prepared: str | Path,
    out_dir: str | Path | None = None,
    report: Report | None = None,
    runtime: Runtime | None = None,
    max_epochs: int | None = None,
    limit: Mapping[str, int] | None = None,
    resume_from: str | Path | None = None,
    distributed: bool = False,
) -> dict[str, Any]:
    """Train one configuration; return the final report (best-epoch validation metrics).

    ``out_dir`` receives the trial folder of the Runs contract (written
    atomically at the end); ``report(metrics, checkpoint_dir)`` is called after
    every epoch with a complete checkpoint folder; ``resume_from`` is such a
    folder, and training continues after its epoch with its optimiser,
    schedule and early-stopping state.
    """
    cfg = config if isinstance(config, TrialConfig) else from_dict(dict(config), where="trial config")
    parts = build_trial(
        cfg,
        prepared=Path(prepared),
        runtime=runtime,
        max_epochs=max_epochs,
        limit=limit,
        distributed=distributed,
    )
    progress = start_or_resume(parts, resume_from)
    folder = ckpt.EpochCheckpoint() if report is not None else None
    try:
        for epoch in range(progress.start, parts.epochs):
            if progress.stopped_early:
                break
            row, metrics = run_epoch(parts, epoch)
            record_epoch(parts, progress, row, metrics)
            if report is not None:
                report_epoch(parts, progress, report, folder)
    finally:
        if folder is not None:
            folder.close()
    if not progress.history:
        raise TrialError(f"no epoch ran: epochs={parts.epochs}, resumed after epoch {progress.start}")
    _unwrap(parts.model).load_state_dict(progress.best_state)
    if out_dir is not None:
        with atomic_dir(Path(out_dir), replace=True) as tmp:
            _write_folder(tmp, parts, progress, optimizer=None, state=None)
    return _result(progress, parts.data, progress.history[-1], True)


def _restore(
    folder: Path,
    *,
    cfg: TrialConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: LRSchedule,
    stopper: EarlyStopping,
) -> TrialProgress:
    """Load a checkpoint folder into the live objects; return the trial's bookkeeping to continue from."""
    state = json_read(folder / "state.json")
    _unwrap(model).load_state_dict(ckpt.load_weights(folder / "last.safetensors"))
    ckpt.optimizer_from_files(optimizer, folder)
    fresh = build_optimizer(cfg, model).param_groups  # the config's lr wins (PBT may have changed it)
    for group, new in zip(optimizer.param_groups, fresh, strict=True):
        group["base_lr"] = new["base_lr"]
    schedule.load_state_dict(state["schedule"])
    stopper.load_state_dict(state["early_stopping"])
    start = int(state["epoch"])
    return TrialProgress(
        history=json_read(folder / "history.json"),
        best_val=json_read(folder / "val_metrics.json"),
        best_state=ckpt.load_weights(folder / "model.safetensors"),
        complexity=json_read(folder / "complexity.json"),
        start=start,
        resumed_at=[*state.get("resumed_at", []), start],
    )


def _result(progress: TrialProgress, data: DataInfo, row: dict[str, Any], done: bool) -> dict[str, Any]:
    """The per-epoch report: best-epoch validation (restored weights), plus this epoch's numbers."""
    best_val, complexity = progress.best_val, progress.complexity
    val = {f"val_{k}": v for k, v in best_val.items() if isinstance(v, float | int) and k not in ("epoch",)}
    primary = best_val.get(data.primary_metric)
    return {
        "val_metric": primary if primary is not None and math.isfinite(primary) else 0.0,
        **val,
        "best_epoch": best_val.get("epoch"),
        "epoch": row["epoch"],
        "epochs": len(progress.history),
        "train_loss": row["train_loss"],
        "epoch_val_loss": row["val_loss"],
        "lr": row["lr"],
        "epoch_s": row["epoch_s"],
        "params": complexity.get("params"),
        "gmacs": complexity.get("gmacs"),
        "complete": bool(done),
    }


def write_checkpoint(
    folder: Path,
    *,
    model: nn.Module,
    best_state: Mapping[str, torch.Tensor],
    optimizer: torch.optim.Optimizer | None,
    state: dict[str, Any] | None,
    trial_json: dict[str, Any],
    history: list[dict[str, Any]],
    best_val: dict[str, Any],
    complexity: dict[str, Any],
) -> None:
    """The trial folder of the Runs contract; with ``optimizer``/``state`` also resumable."""
    folder.mkdir(parents=True, exist_ok=True)
    ckpt.save_weights(folder / "model.safetensors", dict(best_state))
    TrialRecord.from_dict(trial_json, where=str(folder / TrialRecord.FILENAME)).write(folder)
    atomic_write_json(folder / "history.json", history)
    atomic_write_json(folder / "val_metrics.json", {"split": "val", **best_val})
    atomic_write_json(folder / "complexity.json", complexity)
    if optimizer is not None and state is not None:
        ckpt.save_weights(folder / "last.safetensors", state_dict_cpu(model))
        ckpt.optimizer_to_files(optimizer, folder)
        atomic_write_json(folder / "state.json", state)


def measure_complexity(model: nn.Module, image_size: int) -> dict[str, Any]:
    """Params and GMACs via the families' fvcore counter (latency measured once, briefly)."""
    from medzoo.zoo.architectures import complexity

    was_training = model.training
    out = complexity.measure(model, (3, image_size, image_size), batch_sizes=(1,), repeats=2)
    model.train(was_training)
    return dict(out)


def json_read(path: Path) -> Any:
    return ckpt.read_json(Path(path))
