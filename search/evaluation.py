"""The one look at the test split, taken only after selection on validation.

``evaluate_test`` rebuilds a trial's model from its folder (trial.json +
model.safetensors), predicts the test split and writes ``test_metrics.json``
(bootstrap intervals) and ``test_outputs.npz`` per docs/contracts.md. For
brats19-grade it adds the patient-level vote over each patient's slices.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medzoo.device import Runtime, detect
from medzoo.errors import TrialError
from medzoo.formats.run import TrialRecord
from medzoo.paths import atomic_write_bytes, atomic_write_json
from medzoo.search import checkpoint as ckpt
from medzoo.search.config import from_dict
from medzoo.search.metrics import bootstrap_metrics, patient_vote, sequence_vote
from medzoo.search.trial import ClassificationLoss, build_loaders, evaluate

PATIENT_LEVEL_DATASETS = ("brats19-grade",)


@dataclass(frozen=True)
class TestJob:
    """One top-K test evaluation, as plain data so that any executor (the driver, a Ray task) can run it."""

    trial_dir: str
    prepared: str
    primary_metric: str
    limit: dict[str, int] = field(default_factory=dict)
    resamples: int = 1000
    seed: int = 0

    def run(self, *, runtime: Runtime | None = None) -> dict[str, Any]:
        return evaluate_test(
            self.trial_dir,
            prepared=self.prepared,
            primary_metric=self.primary_metric,
            runtime=runtime,
            limit=self.limit,
            resamples=self.resamples,
            seed=self.seed,
        )


def evaluate_jobs_locally(jobs: Sequence[TestJob]) -> list[dict[str, Any]]:
    """The embedded default executor: one job after another, in this process."""
    return [job.run() for job in jobs]


def load_trial(trial_dir: Path):
    """(model with its weights, the trial record, its TrialConfig) from a finished trial folder.

    The model is built from the record's own model kwargs (what the model reported when it
    was trained), exactly as the zoo rebuilds it, never re-derived from the configuration.
    """
    from medzoo.zoo import create_model

    trial_dir = Path(trial_dir)
    if not (trial_dir / TrialRecord.FILENAME).is_file():
        raise TrialError(f"{trial_dir} has no trial.json; it is not a finished trial folder")
    record = TrialRecord.read(trial_dir)
    cfg = from_dict(record.config(), where=str(trial_dir / TrialRecord.FILENAME))
    model = create_model(record.family, pretrained=False, **record.model_kwargs())
    model.load_state_dict(ckpt.load_weights(trial_dir / "model.safetensors"))
    return model, record, cfg


def evaluate_test(
    trial_dir: str | Path,
    *,
    prepared: str | Path,
    primary_metric: str,
    runtime: Runtime | None = None,
    limit: Mapping[str, int] | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Write test_metrics.json + test_outputs.npz into ``trial_dir``; return the metrics dict."""
    trial_dir, prepared = Path(trial_dir), Path(prepared)
    model, record, cfg = load_trial(trial_dir)
    runtime = runtime or detect()
    model = model.to(runtime.torch_device())
    task, classes = record.task, list(record.classes)
    loaders = build_loaders(
        cfg,
        prepared=prepared,
        image_size=record.image_size,
        mean=record.mean,
        std=record.std,
        runtime=runtime,
        limit=limit,
        splits=("test",),
    )
    loss_fn = ClassificationLoss("bce" if task == "multilabel" else "ce", task=task, num_classes=len(classes))
    out = evaluate(model, loaders["test"], loss_fn, runtime, task=task)
    result: dict[str, Any] = {
        "dataset": record.dataset,
        "split": "test",
        "primary_metric": primary_metric,
        **bootstrap_metrics(
            out["probs"], out["targets"], task=task, classes=classes, resamples=resamples, seed=seed
        ),
    }
    if record.dataset in PATIENT_LEVEL_DATASETS and task != "multilabel":
        manifest = loaders["test"].dataset.manifest
        pids = np.asarray(manifest["patient_id"].astype(str))[
            _positions(loaders["test"].dataset, out["indices"])
        ]
        probs, preds, targets, patients = patient_vote(out["probs"], out["targets"], pids)
        level = bootstrap_metrics(
            probs, targets, task=task, classes=classes, preds=preds, resamples=resamples, seed=seed
        )
        result["patient_level"] = {"vote": "majority over slices (ties by mean probability)", **level}
    buf = io.BytesIO()
    np.savez(buf, probs=out["probs"].astype(np.float32), targets=out["targets"], indices=out["indices"])
    atomic_write_bytes(trial_dir / "test_outputs.npz", buf.getvalue())
    atomic_write_json(trial_dir / "test_metrics.json", result)
    return result


def _positions(dataset: Any, indices: np.ndarray) -> np.ndarray:
    """Row positions in ``dataset.manifest`` of the items' ``index`` values."""
    manifest = dataset.manifest
    if "index" in getattr(manifest, "columns", ()):
        where = {int(v): i for i, v in enumerate(manifest["index"])}
        return np.array([where[int(i)] for i in indices])
    return np.asarray(indices, dtype=np.int64)


def vote_sequences(
    trial_dirs: Mapping[str, Path],
    *,
    prepared: str | Path,
    primary_metric: str,
    limit: Mapping[str, int] | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The glioma study's T1/T2/FLAIR majority vote over per-sequence trials' test outputs.

    ``trial_dirs`` maps a sequence to a trial folder holding test_outputs.npz;
    slices are aligned across sequences by (patient_id, slice).
    """
    from medzoo import datasets

    limit = limit or {}
    outputs: dict[str, dict[str, np.ndarray]] = {}
    classes: list[str] = []
    for seq, trial_dir in trial_dirs.items():
        npz = np.load(Path(trial_dir) / "test_outputs.npz", allow_pickle=False)
        manifest = datasets.open(prepared, split="test", sequence=seq, limit=limit.get("test")).manifest
        rows = manifest.iloc[npz["indices"]]
        keys = (rows["patient_id"].astype(str) + "/" + rows["slice"].astype(str)).to_numpy()
        outputs[seq] = {"probs": npz["probs"], "targets": npz["targets"], "keys": keys}
        classes = list(TrialRecord.read(trial_dir).classes)
    vote = sequence_vote(outputs)
    result: dict[str, Any] = {
        "split": "test",
        "primary_metric": primary_metric,
        "vote": "majority over sequences (ties by mean probability)",
        "sequences": {seq: Path(d).name for seq, d in trial_dirs.items()},
        **bootstrap_metrics(
            vote["probs"],
            vote["targets"],
            task="binary" if len(classes) == 2 else "multiclass",
            classes=classes,
            preds=vote["preds"],
            resamples=resamples,
            seed=seed,
        ),
    }
    pids = [k.split("/", 1)[0] for k in vote["keys"]]
    probs, preds, targets, _ = patient_vote(vote["probs"], vote["targets"], pids)
    result["patient_level"] = {
        "vote": "majority over the patient's voted slices",
        **bootstrap_metrics(
            probs,
            targets,
            task="binary" if len(classes) == 2 else "multiclass",
            classes=classes,
            preds=preds,
            resamples=resamples,
            seed=seed,
        ),
    }
    return result
