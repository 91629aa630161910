"""Publish a search run's best trials as zoo entries (docs/contracts.md "Runs" -> "Zoo entry").

Selection happened in the search (validation) and the test split was touched
once, for the chosen trials only; publish re-checks nothing on test but reads
what the search wrote, adds the Grad-CAM evidence, the plots, the complexity
and the card, and writes each entry revision to a temporary sibling that is
renamed into place. Publishing a name again makes a new revision: nothing that
was published is ever overwritten.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from medzoo.errors import ZooError
from medzoo.paths import atomic_dir, atomic_write_json
from medzoo.zoo.entries import store


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZooError(
            f"{path} is missing; a run folder must hold it (docs/contracts.md 'Runs')",
            fix="run `medzoo sweep ...` to completion first",
        ) from None
    except json.JSONDecodeError as exc:
        raise ZooError(f"{path} must be JSON; it does not parse ({exc})") from None


def select_trials(run: Path, *, top: int) -> tuple[list[str], dict[str, Any], Any]:
    """The ``top`` trials by validation primary metric (the run's mode), each already test-evaluated."""
    import pandas as pd

    if top < 1:
        raise ZooError(f"top >= 1 must hold, got top={top}")
    info = _read_json(run / "run.json")
    try:
        results = pd.read_parquet(run / "results.parquet")
    except FileNotFoundError:
        raise ZooError(f"{run / 'results.parquet'} is missing; the run is incomplete") from None
    primary = info["primary_metric"]
    # the search's own selection: val_metric (the primary on validation), ties to the cheaper model (GMACs)
    col = "val_metric" if "val_metric" in results.columns else f"val_{primary}"
    if col not in results.columns:
        raise ZooError(
            f"{run / 'results.parquet'} must have the column val_metric or val_{primary}; "
            f"columns are {list(results.columns)}"
        )
    ok = results[results[col].notna()].copy()
    if "status" in ok.columns:
        ok = ok[ok["status"].astype(str).str.upper() == "TERMINATED"]
    if ok.empty:
        raise ZooError(
            f"{run}: no finished trial has a validation {primary}; nothing to publish",
            fix="check results.parquet's error column and rerun the sweep",
        )
    if len(ok) < top:
        raise ZooError(
            f"{run}: top <= the number of finished trials must hold, got top={top} with {len(ok)} finished",
            fix=f"publish with --top {len(ok)}",
        )
    sign = 1.0 if info.get("mode", "max") == "min" else -1.0
    ok["_key"] = sign * ok[col].astype(float)
    ok["_cost"] = ok["gmacs"].astype(float).fillna(float("inf")) if "gmacs" in ok.columns else 0.0
    best = run / "best.json"
    if best.is_file():  # the search's recorded best comes first, whatever the tie-breaking
        ok["_best"] = (ok["trial_id"].astype(str) != str(_read_json(best).get("trial_id"))).astype(int)
    else:
        ok["_best"] = 0
    ok = ok.sort_values(["_best", "_key", "_cost"], kind="stable")
    chosen = [str(t) for t in ok["trial_id"].head(top)]
    missing = [t for t in chosen if not (run / "trials" / t / "test_metrics.json").is_file()]
    if missing:
        raise ZooError(
            f"{run}: the top {top} trials by validation must have been evaluated on test by the search; "
            f"{missing} have no test_metrics.json (only the search's top-K were)",
            fix="publish no more trials than the search tested (its test top-K), or rerun the sweep with a larger "
            "test top-K",
        )
    return chosen, info, ok


def publish(
    run: str | Path,
    *,
    top: int = 1,
    zoo: str | Path,
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
    run = Path(run)
    chosen, info, _ = select_trials(run, top=top)
    ids: list[str] = []
    used: dict[str, int] = {}
    for trial_id in chosen:
        trial = _read_json(run / "trials" / trial_id / "trial.json")
        base = store.sanitize_name(name or trial["family"])
        used[base] = used.get(base, 0) + 1
        entry_name = base if used[base] == 1 else store.sanitize_name(f"{base}-{used[base]}")
        ids.append(
            _publish_trial(
                run,
                trial_id,
                trial,
                info=info,
                zoo=Path(zoo),
                name=entry_name,
                data_kind=data_kind,
                gradcam_images=gradcam_images,
                overlays_per_class=overlays_per_class,
                faithfulness_images=faithfulness_images,
                seed=seed,
                device=device,
            )
        )
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


def _dataset_facts(dataset_id: str) -> dict[str, Any]:
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


def _pretrained_cfg(model, trial: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    base = dict(getattr(model, "pretrained_cfg", None) or {})
    size = trial.get("image_size") or (base.get("input_size") or (3, 224, 224))[-1]
    cfg = {
        k: base[k]
        for k in ("first_conv", "classifier", "pool_size", "fixed_input_size")
        if base.get(k) is not None
    }
    cfg.update(
        {
            "input_size": [3, int(size), int(size)],
            "mean": [float(v) for v in (trial.get("mean") or base.get("mean") or (0.485, 0.456, 0.406))],
            "std": [float(v) for v in (trial.get("std") or base.get("std") or (0.229, 0.224, 0.225))],
            "interpolation": base.get("interpolation", "bilinear"),
            "crop_pct": 1.0,
            "crop_mode": "center",
            "num_classes": int(trial["num_classes"]),
        }
    )
    return cfg


def _search_block(run: Path, info: dict[str, Any], trial_id: str, trial: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd

    results = pd.read_parquet(run / "results.parquet")
    primary = info["primary_metric"]
    compared = int(results[f"val_{primary}"].notna().sum())
    compute_s = float(results["compute_s"].fillna(0).sum()) if "compute_s" in results.columns else None
    row = results[results["trial_id"].astype(str) == trial_id].iloc[0].to_dict()
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    row = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
    best_cfg = {k[len("config.") :]: v for k, v in row.items() if k.startswith("config.")}
    return {
        "run": str(run.resolve()),
        "run_name": run.name,
        "dataset": info.get("dataset"),
        "recipe": info.get("recipe"),
        "space": info.get("space"),
        "search": info.get("search"),
        "scheduler": info.get("scheduler"),
        "objectives": info.get("objectives"),
        "samples": info.get("samples"),
        "budget": info.get("budget"),
        "smoke": bool(info.get("smoke", False)),
        "started": info.get("started"),
        "finished": info.get("finished"),
        "ray_version": info.get("ray_version"),
        "primary_metric": primary,
        "mode": info.get("mode", "max"),
        "trials": int(len(results)),
        "configurations_compared": compared,
        "compute_hours": None if compute_s is None else round(compute_s / 3600.0, 4),
        "trial_id": trial_id,
        "best_config": best_cfg or trial,
        "best_config_text": json.dumps(best_cfg or trial, sort_keys=True, default=str),
        "trial_row": row,
    }


def _publish_trial(
    run: Path,
    trial_id: str,
    trial: dict[str, Any],
    *,
    info: dict[str, Any],
    zoo: Path,
    name: str,
    data_kind: str | None,
    gradcam_images: int,
    overlays_per_class: int,
    faithfulness_images: int,
    seed: int,
    device: str | None,
) -> str:
    import torch
    from safetensors.torch import load as load_safetensors

    from medzoo import datasets
    from medzoo.device import detect
    from medzoo.zoo.architectures.families import create_model, get_family
    from medzoo.zoo.entries import card as card_mod
    from medzoo.zoo.entries import plots
    from medzoo.zoo.entries.reported import paper_reported
    from medzoo.zoo.inference import gradcam
    from medzoo.zoo.inference.imageio import encode_png

    tdir = run / "trials" / trial_id
    dataset_id = trial.get("dataset") or info["dataset"]
    prepared = Path(info["prepared"])
    dataset_info = datasets.read_info(prepared)
    labels = [str(c) for c in (trial.get("classes") or dataset_info["classes"])]
    task = trial.get("task") or dataset_info["task"]
    family = trial["family"]
    weights = (tdir / "model.safetensors").read_bytes()

    model_args = dict(trial.get("model_args") or {})
    model = create_model(
        family, num_classes=int(trial["num_classes"]), pretrained=False, **_create_kwargs(trial)
    )
    missing, unexpected = model.load_state_dict(load_safetensors(weights), strict=False)
    if missing or unexpected:
        raise ZooError(
            f"{tdir / 'model.safetensors'} must match the trial's model ({family}); missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    model.eval()
    meta = dict(getattr(model, "medzoo", None) or {})
    model_args = meta.get("model_args", model_args)
    cam_layer = meta.get("cam_layer") or get_family(family).cam_layer
    cam_reshape = meta.get("cam_reshape", getattr(get_family(family), "cam_reshape", None))
    pcfg = _pretrained_cfg(model, trial, labels)

    metrics = _read_json(tdir / "test_metrics.json")
    cpath = tdir / "complexity.json"
    if cpath.is_file():
        metrics["complexity"] = _read_json(cpath)
    else:
        from medzoo.zoo.architectures.complexity import measure

        metrics["complexity"] = measure(model, tuple(pcfg["input_size"]))
    runtime = detect(device)
    model.to(runtime.torch_device())
    open_kw: dict[str, Any] = {
        "split": "test",
        "image_size": pcfg["input_size"][-1],
        "mean": tuple(pcfg["mean"]),
        "std": tuple(pcfg["std"]),
        "augment": None,
    }
    if trial.get("sequence"):
        open_kw["sequence"] = trial["sequence"]
    test_set = datasets.open(prepared, **open_kw)
    with torch.enable_grad():
        report = gradcam.evaluate(
            model,
            test_set,
            layer=cam_layer,
            task=task,
            labels=labels,
            mean=pcfg["mean"],
            std=pcfg["std"],
            per_class=overlays_per_class,
            max_images=gradcam_images,
            faithfulness_images=faithfulness_images,
            seed=seed,
            reshape=cam_reshape,
        )
    model.to("cpu")
    metrics["gradcam"] = report.metrics

    threshold: Any = 0.5
    if task == "multilabel":
        vm = tdir / "val_metrics.json"
        found = _read_json(vm).get("thresholds") if vm.is_file() else None
        threshold = {lab: float((found or {}).get(lab, 0.5)) for lab in labels}

    kind = _data_kind(data_kind, dataset_info)
    facts = _dataset_facts(dataset_id)
    search = _search_block(run, info, trial_id, trial)
    home = store.entry_home(zoo, store.EntryRef(dataset_id, name))
    with store.revision_lock(home):
        revision = store.next_revision(home)
        entry_id = f"{dataset_id}/{name}"
        config = {
            "architecture": f"medzoo_{family}",
            "num_classes": int(trial["num_classes"]),
            "num_features": int(getattr(model, "num_features", 0) or 0) or None,
            "label_names": labels,
            "model_args": model_args,
            "pretrained_cfg": pcfg,
            "medzoo": {
                "dataset": dataset_id,
                "task": task,
                "family": family,
                "cam_layer": cam_layer,
                "cam_reshape": cam_reshape,
                "preprocessing": dataset_info.get("preprocessing"),
                "weights_sha256": store.sha256_bytes(weights),
                "data_kind": kind,
                "split_protocol": dataset_info.get("split_protocol"),
                "published_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "revision": revision,
                "run": str(run.resolve()),
                "trial_id": trial_id,
                "threshold": threshold,
                "sequence": trial.get("sequence"),
                "modality": facts.get("modality"),
                "channels": facts.get("channels"),
            },
        }
        if config["num_features"] is None:
            del config["num_features"]
        with atomic_dir(home / revision) as tmp:
            (tmp / "model.safetensors").write_bytes(weights)
            atomic_write_json(tmp / "config.json", config)
            atomic_write_json(tmp / "metrics.json", metrics)
            atomic_write_json(tmp / "search.json", search)
            plot_list = _write_plots(tmp, tdir, metrics, labels, task, info["primary_metric"], plots)
            overlays = []
            (tmp / "gradcam").mkdir()
            for o in report.overlays:
                (tmp / o["file"]).write_bytes(encode_png(o["image"]))
                overlays.append(
                    {
                        "file": o["file"],
                        "caption": f"Grad-CAM for {o['true']} (predicted {o['pred']}, "
                        f"p={o['prob']:.2f}; test row {o['index']})",
                    }
                )
            atomic_write_json(
                tmp / "gradcam" / "index.json",
                [{k: v for k, v in o.items() if k != "image"} for o in report.overlays],
            )
            card = card_mod.build_card(
                entry_id=entry_id,
                revision=revision,
                config=config,
                metrics=metrics,
                search=search,
                dataset=facts,
                reported=paper_reported(dataset_id, architecture=family),
                plots=plot_list,
                overlays=overlays,
            )
            card.save(tmp / "README.md")
        store.add_revision(home, revision)
    return f"{entry_id}@{revision}"


def _create_kwargs(trial: dict[str, Any]) -> dict[str, Any]:
    """The create_model keywords a trial.json pins (the search's own build_model arguments)."""
    kw: dict[str, Any] = {}
    for key in ("head", "dropout", "freeze", "hidden", "img_size"):
        if trial.get(key) is not None:
            kw[key] = tuple(trial[key]) if key == "hidden" else trial[key]
    if "img_size" not in kw and trial.get("image_size") is not None:
        kw["img_size"] = trial["image_size"]
    for k, v in (trial.get("model_args") or {}).items():
        kw.setdefault(k, v)
    return kw


def _write_plots(
    tmp: Path, tdir: Path, metrics: dict[str, Any], labels: list[str], task: str, primary: str, plots
) -> list[dict[str, str]]:
    (tmp / "plots").mkdir()
    out: list[dict[str, str]] = []
    npz = tdir / "test_outputs.npz"
    if npz.is_file():
        with np.load(npz, allow_pickle=False) as z:
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
    hist = tdir / "history.json"
    if hist.is_file():
        (tmp / "plots" / "training_curves.png").write_bytes(
            plots.training_curves_png(_read_json(hist), primary_metric=primary)
        )
        out.append({"title": "training curves", "file": "plots/training_curves.png"})
    return out
