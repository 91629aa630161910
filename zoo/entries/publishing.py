"""Publish a search run's best trials as zoo entries (docs/contracts.md "Runs" -> "Zoo entry").

Selection happened in the search (validation) and the test split was touched
once, for the chosen trials only; publish re-ranks nothing and re-derives
nothing: it takes the search's ranking, rebuilds each model from the keyword
arguments its trial.json recorded, adds the Grad-CAM evidence, the plots, the
complexity and the card, and commits each entry revision through the store
(built in a temporary folder, verified, never over an existing revision).
Every chosen trial is checked before the first is published, so a run whose
best trial lost its weights publishes nothing rather than part of the top-K.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medzoo.errors import FormatError, StorageError, ZooError
from medzoo.formats.entry import EntryConfig, EntryMetrics, SearchProvenance
from medzoo.formats.run import BestTrial, CrossvalResult, RunInfo, TrialRecord, read_results
from medzoo.storage import Location, location
from medzoo.zoo.entries import store

#: the files of a trial folder that publishing needs
TRIAL_FILES = ("trial.json", "model.safetensors", "test_metrics.json")


def _read_json(loc: Location, *, root: Location) -> Any:
    """A run file's JSON (links refused, strict UTF-8): one ZooError naming the file when it is unusable."""
    if not loc.exists():
        raise ZooError(
            f"{loc.uri} is missing; a run folder must hold it (docs/contracts.md 'Runs')",
            fix="run `medzoo sweep ...` to completion first",
        )
    try:
        return json.loads(loc.read_text(max_bytes=64 << 20, root=root))
    except (StorageError, FormatError) as exc:
        raise ZooError(exc.message, fix=exc.fix) from None
    except json.JSONDecodeError as exc:
        raise ZooError(f"{loc.uri} must be JSON; it does not parse ({exc})") from None


def _read_results(run: Location):
    try:
        return read_results(run, root=run)
    except FormatError as exc:
        raise ZooError(exc.message, fix=exc.fix) from None


def _read_record(cls, loc: Location, run: Location):
    """A run file through its record (``medzoo.formats.run``): one ZooError naming the file and field."""
    try:
        return cls.read(loc, root=run)
    except FormatError as exc:
        raise ZooError(exc.message, fix=exc.fix or "run `medzoo sweep ...` to completion first") from None


def _read_trial_record(run: Location, trial_id: str) -> TrialRecord:
    return _read_record(TrialRecord, run / "trials" / trial_id / TrialRecord.FILENAME, run)


@dataclass(frozen=True)
class Selection:
    """The trials to publish (best first, as the search ranked them) and the run's facts."""

    run: Location
    trial_ids: tuple[str, ...]
    info: RunInfo
    results: Any  # the run's results table (pandas DataFrame)


def _ranked(results, info: RunInfo, best_id: str | None):
    """Finished trials in the search's own order: its ``rank`` column, the recorded best first."""
    primary = info.primary_metric
    col = "val_metric" if "val_metric" in results.columns else f"val_{primary}"
    if col not in results.columns:
        raise ZooError(
            f"results.parquet must have the column val_metric or val_{primary}; columns are {list(results.columns)}"
        )
    ok = results[results[col].notna()].copy()
    if "status" in ok.columns:
        ok = ok[ok["status"].astype(str).str.upper() == "TERMINATED"]
    if "rank" in ok.columns:  # the search's ranking (validation, ties to the cheaper model)
        ok = ok[ok["rank"].notna()]
        keys = [ok["rank"].astype(float)]
    else:  # runs written before the rank column: the same rule, on the same columns
        sign = 1.0 if info.mode == "min" else -1.0
        cost = ok["gmacs"].astype(float).fillna(float("inf")) if "gmacs" in ok.columns else 0.0
        keys = [sign * ok[col].astype(float), cost]
    ok["_best"] = (ok["trial_id"].astype(str) != str(best_id)).astype(int)
    for i, k in enumerate(keys):
        ok[f"_k{i}"] = k
    return ok.sort_values(["_best", *(f"_k{i}" for i in range(len(keys)))], kind="stable")


def select_trials(run: str | Path | Location, *, top: int) -> Selection:
    """The ``top`` trials of the search's ranking, each already test-evaluated and complete on disk."""
    if top < 1:
        raise ZooError(f"top >= 1 must hold, got top={top}")
    run = location(run)
    info = _read_record(RunInfo, run / RunInfo.FILENAME, run)
    results = _read_results(run)
    best = run / BestTrial.FILENAME
    best_id = _read_record(BestTrial, best, run).trial_id if best.exists() else None
    ok = _ranked(results, info, best_id)
    if ok.empty:
        raise ZooError(
            f"{run.uri}: no finished trial has a validation {info.primary_metric}; nothing to publish",
            fix="check results.parquet's error column and rerun the sweep",
        )
    if len(ok) < top:
        raise ZooError(
            f"{run.uri}: top <= the number of finished trials must hold, got top={top} with {len(ok)} finished",
            fix=f"publish with --top {len(ok)}",
        )
    chosen = tuple(str(t) for t in ok["trial_id"].head(top))
    _check_complete(run, chosen, top)
    return Selection(run=run, trial_ids=chosen, info=info, results=results)


def _check_complete(run: Location, chosen: tuple[str, ...], top: int) -> None:
    """Every chosen trial has its files, before anything is published (never part of the top-K)."""
    untested = [t for t in chosen if not (run / "trials" / t / "test_metrics.json").exists()]
    if untested:
        raise ZooError(
            f"{run.uri}: the top {top} trials by validation must have been evaluated on test by the search; "
            f"{untested} have no test_metrics.json (only the search's top-K were)",
            fix="publish no more trials than the search tested (its test top-K), or rerun the sweep with a larger "
            "test top-K",
        )
    for t in chosen:
        for name in TRIAL_FILES:
            if not (run / "trials" / t / name).is_file():
                raise ZooError(
                    f"{(run / 'trials' / t / name).uri} is missing (or not a regular file); trial {t} is among "
                    f"the top {top}, so nothing was published",
                    fix="restore the trial folder from a copy, or publish fewer trials (--top)",
                )


@dataclass(frozen=True)
class PublishOptions:
    """How much Grad-CAM evidence to compute, and where."""

    data_kind: str | None = None
    gradcam_images: int = 200
    overlays_per_class: int = 2
    faithfulness_images: int = 16
    seed: int = 0
    device: str | None = None


def publish(
    run: str | Path | Location,
    *,
    top: int = 1,
    zoo: store.ZooLike,
    name: str | None = None,
    data_kind: str | None = None,
    gradcam_images: int = 200,
    overlays_per_class: int = 2,
    faithfulness_images: int = 16,
    seed: int = 0,
    device: str | None = None,
) -> list[str]:
    """Publish the run's ``top`` best trials to ``zoo``; returns the entry ids (``<dataset>/<name>@rN``).

    ``name`` defaults to the trial's family (sanitised); when several chosen
    trials share a name the later ones get ``-2``, ``-3``. ``data_kind`` ("phantom"
    or "real") defaults to what the prepared dataset says about itself.
    """
    selection = select_trials(run, top=top)
    opts = PublishOptions(data_kind, gradcam_images, overlays_per_class, faithfulness_images, seed, device)
    trials = {t: _read_trial_record(selection.run, t) for t in selection.trial_ids}
    ids: list[str] = []
    used: dict[str, int] = {}
    for trial_id, trial in trials.items():
        base = store.sanitize_name(name or trial.family)
        used[base] = used.get(base, 0) + 1
        entry_name = base if used[base] == 1 else store.sanitize_name(f"{base}-{used[base]}")
        ids.append(_publish_trial(selection, trial_id, trial, zoo=location(zoo), name=entry_name, opts=opts))
    return ids


def _data_kind(explicit: str | None, dataset_info: dict[str, Any]) -> str:
    kind = explicit or dataset_info.get("data_kind") or ("phantom" if dataset_info.get("phantom") else None)
    if kind is None:
        source = str(dataset_info.get("source", "")) + str(dataset_info.get("raw", ""))
        kind = "phantom" if "phantom" in source.lower() else None
    if kind not in ("phantom", "real"):
        raise ZooError(
            f"data_kind must be 'phantom' or 'real', got {kind!r} (the prepared dataset.json does not say)",
            fix="pass data_kind='real' (CLI: --data-kind real) or 'phantom'",
        )
    return kind


def dataset_facts(dataset_id: str) -> dict[str, Any]:
    """What the card says about the dataset (title, modality, citation, licence, notes, channels)."""
    from medzoo import datasets
    from medzoo.errors import UnknownNameError

    try:
        spec = datasets.get(dataset_id)
    except UnknownNameError:  # a dataset this install does not know still publishes, with fewer facts
        return {"title": dataset_id}
    return {
        "title": spec.title,
        "modality": spec.modality,
        "citation": spec.citation,
        "licence": spec.licence,
        "notes": list(spec.notes),
        "channels": spec.channels,
    }


#: pretrained_cfg keys that point at other weights (the backbone's ImageNet release): never in an entry
_WEIGHT_SOURCE_KEYS = (
    "file",
    "url",
    "hf_hub_id",
    "hf_hub_filename",
    "state_dict",
    "source",
    "tag",
    "license",
)


@dataclass(frozen=True)
class PublishedModel:
    """What config.json and model.safetensors say about a model: timm's own architecture when timm
    builds the same network (``library_name`` "timm", weights under timm's keys), else ``medzoo_<family>``."""

    architecture: str
    model_args: dict[str, Any]
    pretrained_cfg: dict[str, Any]
    library_name: str
    weights: bytes
    cam_layer: str | None


def export_model(
    model, *, weights: bytes, image_size: int, mean, std, num_classes: int, cam_layer: str | None
) -> PublishedModel:
    """The published form of a trained medzoo model (``timm_bridge.timm_export``), at the trial's input size
    and normalisation. ``weights`` (the trial's own bytes) are kept as they are unless timm's key names differ."""
    from safetensors.torch import save

    from medzoo.zoo.architectures.timm_bridge import timm_export

    export = timm_export(model)
    cfg = {k: v for k, v in export.pretrained_cfg.items() if k not in _WEIGHT_SOURCE_KEYS}
    cfg.update(
        input_size=[3, int(image_size), int(image_size)],
        mean=[float(v) for v in mean],
        std=[float(v) for v in std],
        crop_pct=1.0,
        crop_mode="center",
        num_classes=int(num_classes),
    )
    native = export.library_name == "timm"
    return PublishedModel(
        architecture=export.architecture,
        model_args=dict(export.model_args),
        pretrained_cfg=json.loads(json.dumps(cfg, default=list)),
        library_name=export.library_name,
        weights=save(export.state_dict(model)) if native else weights,
        # timm's model is the backbone itself: the CAM layer loses its "backbone." prefix
        cam_layer=cam_layer.removeprefix("backbone.") if native and cam_layer else cam_layer,
    )


def _search_block(sel: Selection, trial_id: str, trial: TrialRecord) -> SearchProvenance:
    results, info = sel.results, sel.info.to_dict()
    primary = sel.info.primary_metric
    col = f"val_{primary}" if f"val_{primary}" in results.columns else "val_metric"
    compute_s = float(results["compute_s"].fillna(0).sum()) if "compute_s" in results.columns else None
    row = results[results["trial_id"].astype(str) == trial_id].iloc[0].to_dict()
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    row = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
    best_cfg = {k[len("config.") :]: v for k, v in row.items() if k.startswith("config.")} or trial.config()
    keys = ("dataset", "recipe", "space", "search", "scheduler", "objectives", "samples", "budget")
    data = {
        "run": sel.run.uri,
        "run_name": sel.run.name,
        **{k: info.get(k) for k in keys},
        "smoke": bool(info.get("smoke", False)),
        **{k: info.get(k) for k in ("started", "finished", "ray_version")},
        "primary_metric": primary,
        "mode": info.get("mode", "max"),
        "trials": int(len(results)),
        "configurations_compared": int(results[col].notna().sum()),
        "compute_hours": None if compute_s is None else round(compute_s / 3600.0, 4),
        "trial_id": trial_id,
        "best_config": best_cfg,
        "best_config_text": json.dumps(best_cfg, sort_keys=True, default=str),
        "trial_row": json.loads(json.dumps(row, default=str)),
    }
    return SearchProvenance.from_dict(data, where=f"search.json of {trial_id}")


@dataclass(frozen=True)
class _Trial:
    """One chosen trial, read: its files, dataset facts and the model rebuilt from its own record."""

    run: Location
    trial_id: str
    record: TrialRecord
    weights: bytes
    dataset_id: str
    prepared: Path
    dataset_info: dict[str, Any]
    labels: list[str]
    task: str
    family: str

    @property
    def folder(self) -> Location:
        return self.run / "trials" / self.trial_id


def _read_trial(sel: Selection, trial_id: str, trial: TrialRecord) -> _Trial:
    from medzoo import datasets

    folder = sel.run / "trials" / trial_id
    try:
        weights = (folder / "model.safetensors").read_bytes(max_bytes=store.MAX_WEIGHTS_BYTES, root=sel.run)
    except StorageError as exc:
        raise ZooError(exc.message, fix=exc.fix) from None
    prepared = Path(sel.info.prepared)
    dataset_info = datasets.read_info(prepared)
    return _Trial(
        run=sel.run,
        trial_id=trial_id,
        record=trial,
        weights=weights,
        dataset_id=trial.dataset,
        prepared=prepared,
        dataset_info=dataset_info,
        labels=list(trial.classes),
        task=trial.task,
        family=trial.family,
    )


def _build_model(trial: _Trial):
    """The trial's model from the keyword arguments its trial.json recorded (never re-derived), with its weights."""
    from safetensors.torch import load as load_safetensors

    from medzoo.zoo.architectures.families import create_model

    model = create_model(trial.family, pretrained=False, **trial.record.model_kwargs())
    missing, unexpected = model.load_state_dict(load_safetensors(trial.weights), strict=False)
    if missing or unexpected:
        raise ZooError(
            f"{(trial.folder / 'model.safetensors').uri} must match the trial's model ({trial.family}); missing "
            f"{missing[:5]}, unexpected {unexpected[:5]}"
        )
    return model.eval()


def _cam_settings(model, trial: _Trial) -> tuple[str, str | None]:
    """The CAM layer the trial recorded (else the model's or its family's) and how to reshape it."""
    from medzoo.zoo.architectures.families import get_family

    meta = dict(getattr(model, "medzoo", None) or {})
    family = get_family(trial.family)
    cam_layer = trial.record.cam_layer or meta.get("cam_layer") or family.cam_layer
    return cam_layer, meta.get("cam_reshape", getattr(family, "cam_reshape", None))


def _base_metrics(trial: _Trial, model, pcfg: dict[str, Any]) -> dict[str, Any]:
    """test_metrics.json, plus complexity, the patients a vote rests on, and the run's crossval.json."""
    metrics = _read_json(trial.folder / "test_metrics.json", root=trial.run)
    level = metrics.get("patient_level")
    if isinstance(level, dict) and "n_patients" not in level and isinstance(level.get("n"), int):
        level["n_patients"] = level["n"]  # a patient-level vote scores one row per patient
    crossval = trial.run / CrossvalResult.FILENAME
    if crossval.exists():
        metrics["crossval"] = _read_record(CrossvalResult, crossval, trial.run).to_dict()
    cpath = trial.folder / "complexity.json"
    if cpath.exists():
        metrics["complexity"] = _read_json(cpath, root=trial.run)
    else:
        from medzoo.zoo.architectures.complexity import measure

        metrics["complexity"] = measure(model, tuple(pcfg["input_size"]))
    return metrics


def _gradcam(trial: _Trial, model, pcfg: dict[str, Any], cam_layer: str, cam_reshape, opts: PublishOptions):
    import torch

    from medzoo import datasets
    from medzoo.device import detect
    from medzoo.zoo.inference import gradcam

    runtime = detect(opts.device)
    model.to(runtime.torch_device())
    open_kw: dict[str, Any] = {
        "split": "test",
        "image_size": pcfg["input_size"][-1],
        "mean": tuple(pcfg["mean"]),
        "std": tuple(pcfg["std"]),
        "augment": None,
    }
    if trial.record.sequence:
        open_kw["sequence"] = trial.record.sequence
    test_set = datasets.open(trial.prepared, **open_kw)
    try:
        with torch.enable_grad():
            report = gradcam.evaluate(
                model,
                test_set,
                layer=cam_layer,
                task=trial.task,
                labels=trial.labels,
                mean=pcfg["mean"],
                std=pcfg["std"],
                per_class=opts.overlays_per_class,
                max_images=opts.gradcam_images,
                faithfulness_images=opts.faithfulness_images,
                seed=opts.seed,
                reshape=cam_reshape,
            )
    finally:
        model.to("cpu")
    return report, _overlay_inputs(test_set, report, mean=pcfg["mean"], std=pcfg["std"])


def _overlay_inputs(test_set, report, *, mean, std) -> dict[str, np.ndarray]:
    """The test images behind the overlays, as the model saw them (decoded, resized, no file metadata), keyed
    by their overlay file: published as ``gradcam/inputs/`` so try-a-model can offer them as examples."""
    from medzoo.zoo.inference.gradcam import denormalise

    out: dict[str, np.ndarray] = {}
    for o in report.overlays:
        image = test_set[int(o["index"])]["image"]
        if image.ndim != 3 or image.shape[0] not in (1, 3):  # sequences (a stack of slices) have no example
            continue
        c = image.shape[0]
        shown = denormalise(image[None], mean[:c], std[:c])[0]
        out[o["file"]] = shown[..., 0] if c == 1 else shown
    return out


def _threshold(trial: _Trial) -> Any:
    """Multi-label: the per-label thresholds the search chose on validation; otherwise 0.5."""
    if trial.task != "multilabel":
        return 0.5
    vm = trial.folder / "val_metrics.json"
    found = _read_json(vm, root=trial.run).get("thresholds") if vm.exists() else None
    return {lab: float((found or {}).get(lab, 0.5)) for lab in trial.labels}


def _base_model(trial: _Trial) -> str | None:
    """The Hub id of the ImageNet weights a timm backbone was fine-tuned from (None when trained from scratch)."""
    from medzoo.zoo.architectures.families import get_family

    family = get_family(trial.family)
    if not trial.record.pretrained or family.source != "timm":
        return None
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(family.backbone)
    return cfg.hf_hub_id if cfg is not None and cfg.hf_hub_id and "/" in cfg.hf_hub_id else None


def _config(
    trial: _Trial, model, *, published: PublishedModel, cam_reshape, revision: str, kind, facts
) -> EntryConfig:
    num_features = int(getattr(model, "num_features", 0) or 0) or None
    data = {
        "architecture": published.architecture,
        "num_classes": trial.record.num_classes,
        "label_names": trial.labels,
        "model_args": published.model_args,
        "pretrained_cfg": published.pretrained_cfg,
        "medzoo": {
            "dataset": trial.dataset_id,
            "task": trial.task,
            "family": trial.family,
            "library_name": published.library_name,
            "base_model": _base_model(trial),
            "cam_layer": published.cam_layer,
            "cam_reshape": cam_reshape,
            "preprocessing": trial.dataset_info.get("preprocessing"),
            "weights_sha256": store.sha256_bytes(published.weights),
            "data_kind": kind,
            "split_protocol": trial.dataset_info.get("split_protocol"),
            "published_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "revision": revision,
            "run": trial.run.uri,
            "trial_id": trial.trial_id,
            "threshold": _threshold(trial),
            "sequence": trial.record.sequence,
            "modality": facts.get("modality"),
            "channels": facts.get("channels"),
        },
    }
    if num_features is not None:
        data["num_features"] = num_features
    return EntryConfig.from_dict(
        json.loads(json.dumps(data, default=str)), where="config.json (being published)"
    )


def _write_evidence(
    tmp: Path, trial: _Trial, report, inputs: dict[str, np.ndarray], metrics: EntryMetrics, primary: str
):
    """plots/ and gradcam/ into the revision folder (each overlay's input image under gradcam/inputs/ with the
    overlay's file name, listed as ``input`` in gradcam/index.json); returns (plot list, overlay list) for
    the card."""
    from medzoo.paths import atomic_write_json
    from medzoo.zoo.entries import plots
    from medzoo.zoo.inference.imageio import encode_png

    plot_list = _write_plots(tmp, trial, metrics.to_dict(), primary, plots)
    (tmp / "gradcam" / "inputs").mkdir(parents=True)
    overlays, index = [], []
    for o in report.overlays:
        (tmp / o["file"]).write_bytes(encode_png(o["image"]))
        entry = {k: v for k, v in o.items() if k != "image"}
        if o["file"] in inputs:
            entry["input"] = f"gradcam/inputs/{Path(o['file']).name}"
            (tmp / entry["input"]).write_bytes(encode_png(inputs[o["file"]]))
        index.append(entry)
        overlays.append({"file": o["file"], "caption": overlay_caption(o)})
    atomic_write_json(tmp / "gradcam" / "index.json", index)
    return plot_list, overlays


def overlay_caption(overlay: dict[str, Any]) -> str:
    o = overlay
    return (
        f"Grad-CAM for {o['true']} (predicted {o['pred']}, p={float(o['prob']):.2f}; test row {o['index']})"
    )


#: the plots a revision may hold, with their card titles
PLOT_TITLES = (
    ("plots/confusion_matrix.png", "confusion matrix"),
    ("plots/roc.png", "ROC curves"),
    ("plots/training_curves.png", "training curves"),
)


def card_evidence(folder: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(plots, overlays) for the card of a revision folder built locally (e.g. a copy of an earlier one)."""
    plots = [{"title": title, "file": rel} for rel, title in PLOT_TITLES if (folder / rel).is_file()]
    index = folder / "gradcam" / "index.json"
    if not index.is_file():
        return plots, []
    where = location(folder)
    try:
        rows = json.loads((where / "gradcam" / "index.json").read_text(max_bytes=8 << 20, root=where))
        overlays = [{"file": str(o["file"]), "caption": overlay_caption(o)} for o in rows]
    except (StorageError, FormatError) as exc:
        raise ZooError(exc.message, fix=exc.fix) from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ZooError(
            f"{index}: must be a JSON list of overlays (file, true, pred, prob, index); it is not ({exc})"
        ) from None
    bad = [
        o["file"] for o in overlays if not o["file"].startswith("gradcam/") or ".." in o["file"].split("/")
    ]
    if bad:
        raise ZooError(f"{index}: overlay files must lie under gradcam/, found {bad[:3]}")
    missing = [o["file"] for o in overlays if not (folder / o["file"]).is_file()]
    if missing:
        raise ZooError(f"{index} lists overlays that are not in the revision: {missing[:3]}")
    return plots, overlays


def _publish_trial(
    sel: Selection, trial_id: str, record: TrialRecord, *, zoo: Location, name: str, opts: PublishOptions
) -> str:
    """Build one entry revision in a temporary folder and commit it (see the module docstring)."""
    from medzoo.zoo.entries import card as card_mod
    from medzoo.zoo.entries.reported import paper_reported

    trial = _read_trial(sel, trial_id, record)
    model = _build_model(trial)
    cam_layer, cam_reshape = _cam_settings(model, trial)
    rec = trial.record
    published = export_model(
        model,
        weights=trial.weights,
        image_size=rec.image_size,
        mean=rec.mean,
        std=rec.std,
        num_classes=rec.num_classes,
        cam_layer=cam_layer,
    )
    pcfg = published.pretrained_cfg
    metrics_data = _base_metrics(trial, model, pcfg)
    report, inputs = _gradcam(trial, model, pcfg, cam_layer, cam_reshape, opts)
    metrics = EntryMetrics.from_dict(
        {**metrics_data, "gradcam": report.metrics}, where=f"metrics.json of {trial_id}"
    )
    kind = _data_kind(opts.data_kind, trial.dataset_info)
    facts = dataset_facts(trial.dataset_id)
    search = _search_block(sel, trial_id, trial.record)
    home = store.entry_home(zoo, store.EntryRef(trial.dataset_id, name))
    entry_id = f"{trial.dataset_id}/{name}"
    with store.new_revision(home) as (revision, tmp):
        config = _config(
            trial,
            model,
            published=published,
            cam_reshape=cam_reshape,
            revision=revision,
            kind=kind,
            facts=facts,
        )
        (tmp / store.WEIGHTS).write_bytes(published.weights)
        for record_ in (config, metrics, search):
            record_.write(tmp)
        plot_list, overlays = _write_evidence(tmp, trial, report, inputs, metrics, sel.info.primary_metric)
        card = card_mod.build_card(
            entry_id=entry_id,
            revision=revision,
            config=config.to_dict(),
            metrics=metrics.to_dict(),
            search=search.to_dict(),
            dataset=facts,
            reported=paper_reported(trial.dataset_id, architecture=trial.family),
            plots=plot_list,
            overlays=overlays,
        )
        card.save(tmp / "README.md")
        (tmp / card_mod.LICENSE_FILE).write_text(card_mod.licence_text(entry_id=entry_id, dataset=facts))
    return f"{entry_id}@{revision}"


def _write_plots(
    tmp: Path, trial: _Trial, metrics: dict[str, Any], primary: str, plots
) -> list[dict[str, str]]:
    (tmp / "plots").mkdir()
    out: list[dict[str, str]] = []
    labels, task = trial.labels, trial.task
    npz = trial.folder / "test_outputs.npz"
    if npz.exists():
        with np.load(io.BytesIO(npz.read_bytes(root=trial.run)), allow_pickle=False) as z:
            probs, targets = np.asarray(z["probs"]), np.asarray(z["targets"])
        cm = metrics.get("confusion_matrix")
        if cm is None and task != "multilabel":
            pred = probs.argmax(axis=1)
            cm = np.zeros((len(labels), len(labels)), int)
            np.add.at(cm, (targets.astype(int), pred), 1)
        if cm is not None and task != "multilabel":
            (tmp / "plots" / "confusion_matrix.png").write_bytes(plots.confusion_matrix_png(cm, labels))
            out.append({"title": "confusion matrix", "file": "plots/confusion_matrix.png"})
        (tmp / "plots" / "roc.png").write_bytes(plots.roc_png(probs, targets, labels, task=task))
        out.append({"title": "ROC curves", "file": "plots/roc.png"})
    hist = trial.folder / "history.json"
    if hist.exists():
        history = _read_json(hist, root=trial.run)
        (tmp / "plots" / "training_curves.png").write_bytes(
            plots.training_curves_png(history, primary_metric=primary)
        )
        out.append({"title": "training curves", "file": "plots/training_curves.png"})
    return out
