"""The entry's model card, built with huggingface_hub (ModelCardData + EvalResult + a Jinja template).

The YAML front matter is produced by huggingface_hub from ``ModelCardData`` —
never by string concatenation — so the Hub (and ``ModelCard.load``) read the
``model-index`` test results back intact. medzoo's own fields sit beside them:
``medical`` (modality, labels, input format, intended use and limits, data
source and terms, split protocol, phantom or real) and ``search`` (provenance).
Free text that reaches the Markdown body is escaped, so a label or note cannot
inject HTML or break a table.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

TEMPLATE = "templates/modelcard.md"

#: metrics whose EvalResult metric_type follows the Hub's metric ids
_METRIC_ORDER = (
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "macro_precision",
    "macro_recall",
    "auc",
    "macro_auc",
    "mean_auroc",
    "sensitivity",
    "specificity",
    "f1",
    "ece",
)


def md(text: Any) -> str:
    """Escape free text for a Markdown table cell (no HTML, no pipes, one line)."""
    s = str(text)
    return (
        s.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _ci(m: dict[str, Any]) -> str:
    lo, hi = m.get("ci_low"), m.get("ci_high")
    return "n/a" if lo is None or hi is None else f"[{lo:.4f}, {hi:.4f}]"


def ordered_metrics(metrics: dict[str, Any], primary: str) -> list[str]:
    names = [n for n in metrics if isinstance(metrics[n], dict) and metrics[n].get("value") is not None]
    return sorted(
        names, key=lambda n: (n != primary, _METRIC_ORDER.index(n) if n in _METRIC_ORDER else 99, n)
    )


def eval_results(
    metrics_json: dict[str, Any], *, dataset_id: str, dataset_title: str, data_kind: str
) -> list:
    """One ``EvalResult`` per test metric (primary first), on the test split."""
    from huggingface_hub import EvalResult

    primary = metrics_json["primary_metric"]
    out = []
    for name in ordered_metrics(metrics_json["metrics"], primary):
        m = metrics_json["metrics"][name]
        out.append(
            EvalResult(
                task_type="image-classification",
                task_name="Image Classification",
                dataset_type=dataset_id,
                dataset_name=f"{dataset_title} ({data_kind})",
                dataset_split="test",
                metric_type=name,
                metric_name=f"test {name}" + (" (primary)" if name == primary else ""),
                metric_value=round(float(m["value"]), 6),
                metric_args={
                    "ci_low": _round(m.get("ci_low")),
                    "ci_high": _round(m.get("ci_high")),
                    "ci_level": 0.95,
                    "ci_method": "bootstrap",
                },
            )
        )
    return out


def _round(v: Any) -> float | None:
    return None if v is None else round(float(v), 6)


def build_card(
    *,
    entry_id: str,
    revision: str,
    config: dict[str, Any],
    metrics: dict[str, Any],
    search: dict[str, Any],
    dataset: dict[str, Any],
    reported: list[dict[str, Any]],
    plots: list[dict[str, str]],
    overlays: list[dict[str, Any]],
):
    """The ModelCard of one entry revision; ``dataset`` holds title, modality, source, licence, notes."""
    from huggingface_hub import ModelCard, ModelCardData

    med = config["medzoo"]
    dataset_id = med["dataset"]
    data_kind = med["data_kind"]
    labels = list(config["label_names"])
    primary = metrics["primary_metric"]
    cx = metrics.get("complexity", {})
    cam = metrics.get("gradcam", {})
    input_size = config["pretrained_cfg"]["input_size"]
    input_format = (
        f"uint8 {'grey or RGB' if dataset.get('channels', 3) == 1 else 'RGB'} image, resized to "
        f"{input_size[1]}x{input_size[2]} (area when shrinking, bicubic when enlarging, as in training), scaled to "
        f"[0, 1] then normalised with mean {list(config['pretrained_cfg']['mean'])} and std "
        f"{list(config['pretrained_cfg']['std'])}; grey images are repeated to 3 channels"
    )
    intended_use = (
        "Research on medical image classification methods: reproducing and comparing the source study's "
        "protocol, and as a starting point for fine-tuning. Not a medical device; not for diagnosis."
    )
    limitations = (
        ("Trained on synthetic phantom data: no clinical meaning. " if data_kind == "phantom" else "")
        + f"Validated only on the {dataset_id} test split ({med.get('split_protocol')}); expect lower performance "
        "on other scanners, sites and populations. Grad-CAM maps are coarse and show correlation, not cause."
    )
    medical = {
        "modality": dataset.get("modality"),
        "label_names": labels,
        "task": med["task"],
        "input_format": input_format,
        "value_range": "uint8 0-255 in; float normalised tensor to the model",
        "intended_use": intended_use,
        "limitations": limitations,
        "data_source": dataset.get("citation"),
        "data_licence": dataset.get("licence"),
        "split_protocol": med.get("split_protocol"),
        "data_kind": data_kind,
        "phantom": data_kind == "phantom",
        "threshold": med.get("threshold"),
    }
    provenance = {
        "run": search.get("run_name"),
        "recipe": search.get("recipe"),
        "space": search.get("space"),
        "search": search.get("search"),
        "scheduler": search.get("scheduler"),
        "trials": search.get("trials"),
        "configurations_compared": search.get("configurations_compared"),
        "compute_hours": search.get("compute_hours"),
        "trial_id": med.get("trial_id"),
        "smoke": search.get("smoke"),
    }
    tags = ["medzoo", "image-classification", "medical-imaging", dataset_id, med["family"], "pytorch", "timm"]
    if data_kind == "phantom":
        tags.append("synthetic-phantom")
    card_data = ModelCardData(
        library_name="timm",
        pipeline_tag="image-classification",
        license="other",
        tags=tags,
        datasets=[dataset_id],
        metrics=ordered_metrics(metrics["metrics"], primary),
        model_name=entry_id,
        eval_results=eval_results(
            metrics,
            dataset_id=dataset_id,
            dataset_title=dataset.get("title", dataset_id),
            data_kind=data_kind,
        ),
        medical=medical,
        search=provenance,
        medzoo={
            "entry": entry_id,
            "revision": revision,
            "architecture": config["architecture"],
            "family": med["family"],
            "primary_metric": primary,
            "gradcam": {
                k: cam.get(k) for k in ("pointing_game", "energy_in_mask", "faithfulness") if k in cam
            },
        },
    )
    metric_rows = [
        {
            "name": md(n),
            "value": _fmt(metrics["metrics"][n]["value"]),
            "ci": _ci(metrics["metrics"][n]),
            "primary": n == primary,
        }
        for n in ordered_metrics(metrics["metrics"], primary)
    ]
    per_class_rows = [
        {
            "name": md(c),
            "sensitivity": _fmt(v.get("sensitivity")),
            "specificity": _fmt(v.get("specificity")),
            "auc": _fmt(v.get("auc")),
        }
        for c, v in (metrics.get("per_class") or {}).items()
    ]
    pl = (metrics.get("patient_level") or {}).get("metrics", {})
    patient_rows = [
        {"name": md(n), "value": _fmt(pl[n]["value"]), "ci": _ci(pl[n])} for n in ordered_metrics(pl, primary)
    ]
    cross_rows = []
    for ds, block in (metrics.get("cross_dataset") or {}).items():
        for n in ordered_metrics(block.get("metrics", {}), primary):
            m = block["metrics"][n]
            cross_rows.append(
                {
                    "dataset": md(ds),
                    "name": md(n),
                    "value": _fmt(m["value"]),
                    "ci": _ci(m),
                    "n": block.get("n", "n/a"),
                    "removed": block.get("removed_duplicates", "n/a"),
                }
            )
    gradcam_rows = []
    for key, title in (
        ("pointing_game", "pointing-game hit rate"),
        ("energy_in_mask", "CAM energy inside lesion mask"),
        ("faithfulness", "faithfulness (ROAD, higher is better)"),
    ):
        if key in cam and cam[key].get("value") is not None:
            gradcam_rows.append(
                {
                    "name": title,
                    "value": _fmt(cam[key]["value"]),
                    "ci": _ci(cam[key]),
                    "n": cam[key].get("n", "n/a"),
                }
            )
    gradcam_note = (
        md(cam.get("note", ""))
        if cam.get("note")
        else (
            f"Chance level of the energy share (mean mask area): {_fmt(cam.get('mask_share'))}."
            if cam.get("mask_share") is not None
            else ""
        )
    )
    reported_rows = [
        {
            "study": md(r["study"]),
            "variant": md(r.get("variant") or "-"),
            "metrics": ", ".join(f"{md(k)} {v:.4g}" for k, v in r["metrics"].items()),
            "params_m": _fmt(r.get("params_m")),
            "gflops": _fmt(r.get("gflops")),
            "protocol": md(r["protocol"]),
        }
        for r in reported
    ]
    body_kwargs = dict(
        title=md(f"{entry_id} ({revision})"),
        summary=md(
            f"A {med['family']} classifier for {dataset.get('title', dataset_id)} ({med['task']}, "
            f"{len(labels)} classes), selected by a medzoo hyperparameter search and tested once on the "
            f"held-out test split."
        ),
        data_kind=data_kind,
        dataset_title=md(dataset.get("title", dataset_id)),
        dataset_id=dataset_id,
        entry_id=entry_id,
        revision=revision,
        published_at=med.get("published_at"),
        architecture=config["architecture"],
        family=med["family"],
        params_m=_fmt(cx["params"] / 1e6, 3) if cx.get("params") is not None else "n/a",
        gmacs=_fmt(cx.get("gmacs"), 3),
        input_size="x".join(str(v) for v in input_size),
        modality=md(dataset.get("modality", "")),
        task=med["task"],
        label_list=", ".join(md(x) for x in labels),
        split_protocol=md(med.get("split_protocol", "")),
        input_format=md(input_format),
        intended_use=md(intended_use),
        limitations=md(limitations),
        n_test=metrics.get("n", "n/a"),
        ci_text="95 % bootstrap intervals, {} resamples".format(
            (metrics.get("ci") or {}).get("resamples", "n/a")
        ),
        configurations_compared=search.get("configurations_compared", "n/a"),
        metric_rows=metric_rows,
        per_class_rows=per_class_rows,
        patient_level_rows=patient_rows,
        cross_rows=cross_rows,
        plots=[{"title": md(p["title"]), "file": p["file"]} for p in plots],
        cam_layer=md(cam.get("target_layer", med.get("cam_layer", ""))),
        gradcam_rows=gradcam_rows,
        gradcam_note=gradcam_note,
        overlays=[{"file": o["file"], "caption": md(o["caption"])} for o in overlays],
        reported_rows=reported_rows,
        run_name=md(search.get("run_name", "")),
        search_kind=md(search.get("search", "")),
        scheduler=md(search.get("scheduler", "")),
        smoke=bool(search.get("smoke")),
        trials=search.get("trials", "n/a"),
        compute_hours=_fmt(search.get("compute_hours"), 3),
        trial_id=md(med.get("trial_id", "")),
        best_config=md(search.get("best_config_text", "")),
        data_source=md(dataset.get("citation", "unknown")),
        data_licence=md(dataset.get("licence", "unknown")),
        dataset_notes=[md(n) for n in dataset.get("notes", [])],
    )
    template = resources.files("medzoo.zoo.entries").joinpath(TEMPLATE).read_text(encoding="utf-8")
    return ModelCard.from_template(card_data, template_str=template, **body_kwargs)
