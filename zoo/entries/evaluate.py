"""``medzoo evaluate ENTRY PREPARED``: a published entry, unchanged, on another dataset of the same classes.

Why: the source studies report cross-dataset numbers (a figshare-trained brain
model on the Kaggle sets) without removing the Kaggle images that *are* figshare
slices. Here the evaluated set's test rows that duplicate any image of the
entry's training set (exact sha256 of the prepared PNG, or a DCT perceptual hash
within ``medzoo.datasets.dedup.DEFAULT_MAX_HAMMING`` bits, the datasets' own dedup
rule) are left out and counted, and the result is written as a new revision of
the entry (never over an existing one): its ``metrics.json`` gains
``cross_dataset[<dataset id>]`` (a :class:`MetricBlock` with bootstrap intervals)
and its card a cross-dataset table; every other file is copied unchanged.

The model sees the evaluated images as its own test images were seen: the
prepared set's test split through ``medzoo.datasets.open`` at the entry's input
size, mean and std (``config.json``'s ``pretrained_cfg``), logits turned into
probabilities by ``medzoo.scoring.probabilities`` and scored by
``medzoo.scoring.bootstrap_metrics``. Classes are matched by name only: the two
datasets must name the same classes (their order may differ), else nothing is
evaluated.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from medzoo.errors import FormatError, MedzooError, StorageError, ZooError
from medzoo.formats.entry import EntryConfig, EntryMetrics, SearchProvenance
from medzoo.formats.prepared import DatasetInfo
from medzoo.storage import Location, location
from medzoo.zoo.entries import store

PreparedLike = str | os.PathLike[str] | Location
#: the bootstrap of a cross-dataset result (the same as the search's test results)
RESAMPLES = 1000
BATCH = 32


@dataclass(frozen=True)
class _Sets:
    """The evaluated prepared set and the entry's training set, both read and checked."""

    prepared: Path
    info: DatasetInfo
    train: Path
    train_info: DatasetInfo


def evaluate_entry(
    *,
    entry: str,
    prepared: PreparedLike,
    zoo: Location | str | os.PathLike[str],
    train_prepared: PreparedLike | None = None,
    seed: int = 0,
) -> str:
    """Evaluate ``entry`` on ``prepared``'s test split (duplicates of its training images removed) and
    publish the result as a new revision; returns its id ``<dataset>/<name>@rN``.

    ``train_prepared`` is the entry's training set; by default the prepared set recorded in the run
    the entry was published from (config.json ``medzoo.run`` -> ``run.json`` ``prepared``).
    """
    resolved = store.resolve_entry(entry, zoo=zoo)
    cfg = store.read_config(resolved.location)
    metrics = store.read_metrics(resolved.location)
    sets = _sets(cfg, prepared=prepared, train_prepared=train_prepared, entry=resolved.id)
    classes = _class_map(cfg, sets.info, prepared=sets.prepared)
    block = _evaluate(resolved, cfg, sets, classes, seed=seed, primary=metrics.primary_metric)
    data = metrics.to_dict()
    data["cross_dataset"] = {**data.get("cross_dataset", {}), sets.info.id: block}
    updated = EntryMetrics.from_dict(
        data, where=f"metrics.json of {resolved.id} with cross_dataset.{sets.info.id}"
    )
    return _publish(resolved, cfg, updated, zoo=location(zoo))


def _local(where: PreparedLike, what: str) -> Path:
    loc = location(where)
    if not loc.is_local:
        raise ZooError(
            f"{what} {loc.uri} must be a local folder (the images are decoded from disk)",
            fix="download the prepared set first (medzoo datasets prepare ... --out DIR) and pass that folder",
        )
    path = loc.local_path().expanduser().absolute()
    if not (path / "dataset.json").is_file():
        raise ZooError(
            f"{what} {path} must be a prepared folder (with dataset.json); it has none",
            fix="prepare it with `medzoo datasets prepare ID RAW --out DIR`",
        )
    return path


def _read_info(path: Path) -> DatasetInfo:
    from medzoo.formats.prepared import read_info

    try:
        return read_info(path)
    except FormatError as exc:
        raise ZooError(exc.message, fix=exc.fix) from None


def _training_set(cfg: EntryConfig, train_prepared: PreparedLike | None, entry: str) -> Path:
    """The entry's training set: given, or the ``prepared`` of the run the entry was published from."""
    how = f"pass the training set's prepared folder: train_prepared= (CLI: --train-prepared DIR of {cfg.medzoo.dataset})"
    if train_prepared is not None:
        return _local(train_prepared, "the training set")
    if not cfg.medzoo.run:
        raise ZooError(
            f"{entry}: config.json names no run (medzoo.run), so its training set is unknown", fix=how
        )
    from medzoo.formats.run import RunInfo

    try:
        run = location(cfg.medzoo.run)
        found = RunInfo.read(run / RunInfo.FILENAME, root=run).prepared
    except MedzooError as exc:
        raise ZooError(
            f"{entry}: the run it was published from ({cfg.medzoo.run}) cannot tell its training set: "
            f"{exc.message}",
            fix=how,
        ) from None
    if not (Path(found) / "dataset.json").is_file():
        raise ZooError(f"{entry}: its training set {found} (run.json 'prepared') is not there", fix=how)
    return _local(found, "the training set")


def _sets(cfg: EntryConfig, *, prepared, train_prepared, entry: str) -> _Sets:
    path = _local(prepared, "the prepared set")
    info = _read_info(path)
    if info.id == cfg.medzoo.dataset:
        raise ZooError(
            f"{entry} was trained on {info.id}; a cross-dataset evaluation needs another dataset, got {path}",
            fix="pass a prepared set of another dataset with the same classes (e.g. kaggle-brain-mri)",
        )
    if info.task != cfg.medzoo.task:
        raise ZooError(
            f"{path} is a {info.task} dataset but {entry} is a {cfg.medzoo.task} model; the tasks must agree"
        )
    train = _training_set(cfg, train_prepared, entry)
    train_info = _read_info(train)
    if train_info.id != cfg.medzoo.dataset:
        raise ZooError(
            f"the training set {train} is {train_info.id}, but {entry} was trained on {cfg.medzoo.dataset}",
            fix=f"pass --train-prepared with the prepared folder of {cfg.medzoo.dataset}",
        )
    return _Sets(prepared=path, info=info, train=train, train_info=train_info)


def _class_map(cfg: EntryConfig, info: DatasetInfo, *, prepared: Path) -> np.ndarray:
    """``index[k]`` = the model's output index of the prepared set's class ``k`` (names must be equal)."""
    model, data = list(cfg.label_names), list(info.classes)
    if sorted(model) != sorted(data):
        raise ZooError(
            f"{prepared} ({info.id}) has the classes {data} but the entry's model has {model}; a cross-dataset "
            "evaluation needs the same class names",
            fix="evaluate on a prepared set of a dataset with the same classes",
        )
    return np.array([model.index(c) for c in data], dtype=np.int64)


def _hashes(root: Path, paths: list[str]) -> np.ndarray:
    """Perceptual hashes of prepared images, each read through the storage layer (links refused)."""
    from medzoo.datasets.imaging import decode_image, perceptual_hash

    base = location(root)
    out = []
    for rel in paths:
        data = location(root / rel).read_bytes(root=base)
        out.append(perceptual_hash(decode_image(data, name=str(root / rel), grey=True)))
    return np.stack(out) if out else np.zeros((0, 256), bool)


def duplicates(eval_root: Path, eval_rows, train_root: Path) -> np.ndarray:
    """Boolean mask of ``eval_rows`` (manifest rows) whose image occurs in any split of the training set:
    the same sha256, or a perceptual hash within ``DEFAULT_MAX_HAMMING`` bits (``medzoo.datasets.dedup``)."""
    from medzoo.datasets import read_manifest
    from medzoo.datasets.dedup import DEFAULT_MAX_HAMMING
    from medzoo.datasets.imaging import hamming_matrix

    train = read_manifest(train_root)
    exact = eval_rows["sha256"].isin(set(train["sha256"])).to_numpy()
    rest = np.flatnonzero(~exact)
    near = np.zeros(len(eval_rows), bool)
    if len(rest) and len(train):
        h_ev = _hashes(eval_root, [str(eval_rows["path"].iloc[i]) for i in rest])
        h_tr = _hashes(train_root, [str(p) for p in train["path"]])
        best = np.full(len(rest), 1 << 30)
        for start in range(0, len(h_tr), 4096):
            best = np.minimum(best, hamming_matrix(h_ev, h_tr[start : start + 4096]).min(axis=1))
        near[rest] = best <= DEFAULT_MAX_HAMMING
    return exact | near


def _earlier_removals(info: DatasetInfo, train_info: DatasetInfo) -> int:
    """Copies of the training set that ``dedup_against`` already removed from the prepared set itself."""
    dedup = info.dedup
    return int(dedup.removed) if dedup is not None and dedup.against == train_info.id else 0


def _outputs(model, dataset, keep: np.ndarray, *, task: str) -> np.ndarray:
    """(N, C) probabilities of the kept rows, by the scoring rule the entry's test metrics used."""
    import torch
    from torch.utils.data import DataLoader, Subset

    from medzoo.device import detect
    from medzoo.scoring import probabilities

    device = detect(None).torch_device()
    model.to(device)
    loader = DataLoader(Subset(dataset, keep.tolist()), batch_size=BATCH, shuffle=False, num_workers=0)
    chunks = []
    with torch.inference_mode():
        for batch in loader:
            logits = model(batch["image"].to(device)).float().cpu()
            chunks.append(probabilities(logits, task=task).numpy())
    return np.concatenate(chunks).astype(np.float64)


def _evaluate(
    resolved, cfg: EntryConfig, sets: _Sets, classes: np.ndarray, *, seed: int, primary: str
) -> dict[str, Any]:
    """The cross-dataset block (``MetricBlock``'s JSON form): bootstrap metrics of the kept test rows."""
    from medzoo import datasets
    from medzoo.scoring import bootstrap_metrics

    size = cfg.input_size[-1]
    test = datasets.open(
        sets.prepared, split="test", image_size=size, mean=cfg.mean, std=cfg.std, augment=None,
        sequence=cfg.medzoo.sequence,
    )  # fmt: skip
    dup = duplicates(sets.prepared, test.manifest, sets.train)
    keep = np.flatnonzero(~dup)
    if not len(keep):
        raise ZooError(
            f"every one of the {len(dup)} test images of {sets.prepared} duplicates an image of the training set "
            f"{sets.train}; nothing is left to evaluate"
        )
    model = store.build_model(cfg, store.read_verified_weights(resolved.location, cfg))
    probs = _outputs(model, test, keep, task=cfg.medzoo.task)
    targets = test.targets[keep]
    targets = targets[:, np.argsort(classes)] if cfg.medzoo.task == "multilabel" else classes[targets]
    threshold = cfg.medzoo.threshold
    if isinstance(threshold, dict):
        threshold = np.array([threshold.get(lab, 0.5) for lab in cfg.label_names])
    scored = bootstrap_metrics(
        probs, targets, task=cfg.medzoo.task, classes=list(cfg.label_names), seed=seed,
        resamples=RESAMPLES, threshold=0.5 if threshold is None else threshold,
    )  # fmt: skip
    return {
        **scored,
        "dataset": sets.info.id,
        "split": "test",
        "removed_duplicates": int(dup.sum()) + _earlier_removals(sets.info, sets.train_info),
        "primary_metric": primary if primary in scored["metrics"] else None,
    }


# -- the new revision ----------------------------------------------------------------------------------

#: files of a revision that the new one writes afresh; every other file is copied unchanged
_REWRITTEN = ("config.json", "metrics.json", "README.md")


def _publish(resolved, cfg: EntryConfig, metrics: EntryMetrics, *, zoo: Location) -> str:
    """Copy the revision, with new config.json (revision, date), metrics.json and card, as the next ``rN``."""
    from medzoo.zoo.entries import card as card_mod
    from medzoo.zoo.entries.publishing import card_evidence, dataset_facts
    from medzoo.zoo.entries.reported import paper_reported

    source = resolved.location
    home = store.entry_home(zoo, store.EntryRef(resolved.dataset, resolved.name))
    entry_id = f"{resolved.dataset}/{resolved.name}"
    search = _search(source)
    facts = dataset_facts(cfg.medzoo.dataset)
    with store.new_revision(home) as (revision, tmp):
        _copy_files(source, tmp)
        published = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        config = replace(cfg, medzoo=replace(cfg.medzoo, revision=revision, published_at=published))
        config.write(tmp)
        metrics.write(tmp)
        plots, overlays = card_evidence(tmp)
        card = card_mod.build_card(
            entry_id=entry_id,
            revision=revision,
            config=config.to_dict(),
            metrics=metrics.to_dict(),
            search=search,
            dataset=facts,
            reported=paper_reported(cfg.medzoo.dataset, architecture=cfg.medzoo.family),
            plots=plots,
            overlays=overlays,
        )
        card.save(tmp / "README.md")
    return f"{entry_id}@{revision}"


def _search(source: Location) -> dict[str, Any]:
    loc = source / SearchProvenance.FILENAME
    if not loc.exists():
        return {}
    return SearchProvenance.read(loc, root=source).to_dict()


def _copy_files(source: Location, tmp: Path) -> None:
    """Every file of the revision except those rewritten, read through the storage layer (links refused)."""
    try:
        for rel, loc in source.walk():
            if rel in _REWRITTEN:
                continue
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(loc.read_bytes(max_bytes=store.MAX_WEIGHTS_BYTES, root=source))
    except StorageError as exc:
        raise ZooError(exc.message, fix=exc.fix) from None


def describe(entry_id: str, *, zoo: Location | str | os.PathLike[str]) -> str:
    """One line per cross-dataset result of ``entry_id`` (for the CLI): value, interval, images, duplicates."""
    resolved = store.resolve_entry(entry_id, zoo=zoo)
    lines = []
    for dataset, block in store.read_metrics(resolved.location).cross_dataset.items():
        name = block.primary_metric or next(iter(block.metrics))
        iv = block.metrics[name]
        ci = "" if iv.ci_low is None or iv.ci_high is None else f" [{iv.ci_low:.3f}, {iv.ci_high:.3f}]"
        value = "n/a" if iv.value is None else f"{iv.value:.3f}"
        lines.append(
            f"{resolved.id} on {dataset}: {name} {value}{ci} ({block.n} test images, "
            f"{block.removed_duplicates} duplicates of the training set removed)"
        )
    return "\n".join(lines)
