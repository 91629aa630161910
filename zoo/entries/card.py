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
#: the entry's licence file: the Hub requires license_name/license_link with ``license: other``
LICENSE_FILE = "LICENSE.md"
LICENSE_NAME = "medzoo-dataset-terms"

#: the order metrics are shown in (primary first, then this order)
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
    """One ``EvalResult`` per test metric the Hub knows (primary first), on the test split.

    ``metric_type`` is the Hub's metric id (``f1`` with ``average: macro`` for macro F1); the
    arguments carry the interval and ``medzoo_metric``, the name in metrics.json.
    """
    from huggingface_hub import EvalResult

    from medzoo.formats.entry import HUB_METRICS

    primary = metrics_json["primary_metric"]
    out = []
    for name in ordered_metrics(metrics_json["metrics"], primary):
        if name not in HUB_METRICS:
            continue
        hub_id, hub_args = HUB_METRICS[name]
        m = metrics_json["metrics"][name]
        out.append(
            EvalResult(
                task_type="image-classification",
                task_name="Image Classification",
                dataset_type=dataset_id,
                dataset_name=f"{dataset_title} ({data_kind})",
                dataset_split="test",
                metric_type=hub_id,
                metric_name=f"test {name}" + (" (primary)" if name == primary else ""),
                metric_value=round(float(m["value"]), 6),
                metric_args={
                    **hub_args,
                    "medzoo_metric": name,
                    "ci_low": _round(m.get("ci_low")),
                    "ci_high": _round(m.get("ci_high")),
                    "ci_level": 0.95,
                    "ci_method": "bootstrap",
                },
            )
        )
    return out


def _hub_metric_ids(metrics: dict[str, Any], primary: str) -> list[str]:
    from medzoo.formats.entry import HUB_METRICS

    ids = [HUB_METRICS[n][0] for n in ordered_metrics(metrics, primary) if n in HUB_METRICS]
    return list(dict.fromkeys(ids))


def _round(v: Any) -> float | None:
    return None if v is None else round(float(v), 6)


_INTENDED_USE = (
    "Research on medical image classification methods: reproducing and comparing the source study's "
    "protocol, and as a starting point for fine-tuning. Not a medical device; not for diagnosis."
)


def _input_format(config: dict[str, Any], dataset: dict[str, Any]) -> str:
    pcfg = config["pretrained_cfg"]
    size = pcfg["input_size"]
    colour = "grey or RGB" if dataset.get("channels", 3) == 1 else "RGB"
    return (
        f"uint8 {colour} image, resized to {size[1]}x{size[2]} (area when shrinking, bicubic when enlarging, "
        f"as in training), scaled to [0, 1] then normalised with mean {list(pcfg['mean'])} and std "
        f"{list(pcfg['std'])}; grey images are repeated to 3 channels"
    )


def _limitations(med: dict[str, Any]) -> str:
    return (
        ("Trained on synthetic phantom data: no clinical meaning. " if med["data_kind"] == "phantom" else "")
        + f"Validated only on the {med['dataset']} test split ({med.get('split_protocol')}); expect lower "
        "performance on other scanners, sites and populations. Grad-CAM maps are coarse and show correlation, "
        "not cause."
    )


def _medical(config: dict[str, Any], dataset: dict[str, Any]) -> dict[str, Any]:
    """The card's ``medical`` metadata block: what a clinician-researcher checks before using the model."""
    med = config["medzoo"]
    return {
        "modality": dataset.get("modality"),
        "label_names": list(config["label_names"]),
        "task": med["task"],
        "input_format": _input_format(config, dataset),
        "value_range": "uint8 0-255 in; float normalised tensor to the model",
        "intended_use": _INTENDED_USE,
        "limitations": _limitations(med),
        "data_source": dataset.get("citation"),
        "data_licence": dataset.get("licence"),
        "split_protocol": med.get("split_protocol"),
        "data_kind": med["data_kind"],
        "phantom": med["data_kind"] == "phantom",
        "threshold": med.get("threshold"),
    }


def _provenance(search: dict[str, Any], med: dict[str, Any]) -> dict[str, Any]:
    keys = ("recipe", "space", "search", "scheduler", "trials", "configurations_compared", "compute_hours")
    return {
        "run": search.get("run_name"),
        **{k: search.get(k) for k in keys},
        "trial_id": med.get("trial_id"),
        "smoke": search.get("smoke"),
    }


def _card_data(
    *, entry_id: str, revision: str, config: dict[str, Any], metrics: dict[str, Any], search, dataset
):
    from huggingface_hub import ModelCardData

    med = config["medzoo"]
    primary = metrics["primary_metric"]
    cam = metrics.get("gradcam", {})
    tags = [
        "medzoo",
        "image-classification",
        "medical-imaging",
        med["dataset"],
        med["family"],
        "pytorch",
        "timm",
    ]
    if med["data_kind"] == "phantom":
        tags.append("synthetic-phantom")
    return ModelCardData(
        library_name=med.get("library_name") or "timm",
        pipeline_tag="image-classification",
        license="other",
        license_name=LICENSE_NAME,
        license_link=LICENSE_FILE,
        base_model=med.get("base_model"),
        tags=tags,
        # ``datasets:`` takes Hub dataset ids; the studies' data are not on the Hub (their terms forbid
        # redistribution), so the dataset is named in the model-index and the medical section instead.
        metrics=_hub_metric_ids(metrics["metrics"], primary),
        model_name=entry_id,
        eval_results=eval_results(
            metrics,
            dataset_id=med["dataset"],
            dataset_title=dataset.get("title", med["dataset"]),
            data_kind=med["data_kind"],
        ),
        medical=_medical(config, dataset),
        search=_provenance(search, med),
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


def _interval_rows(block: dict[str, Any], primary: str) -> list[dict[str, Any]]:
    return [
        {"name": md(n), "value": _fmt(block[n]["value"]), "ci": _ci(block[n]), "primary": n == primary}
        for n in ordered_metrics(block, primary)
    ]


def _per_class_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": md(c), **{k: _fmt(v.get(k)) for k in ("sensitivity", "specificity", "auc")}}
        for c, v in (metrics.get("per_class") or {}).items()
    ]


def _patients(level: dict[str, Any]) -> str:
    """How many patients a patient-level vote rests on (``n_patients``; a vote's ``n`` counts patients)."""
    n = level.get("n_patients", level.get("n"))
    return "n/a" if n is None else str(n)


def _cross_rows(metrics: dict[str, Any], primary: str) -> list[dict[str, Any]]:
    rows = []
    for ds, block in (metrics.get("cross_dataset") or {}).items():
        for row in _interval_rows(block.get("metrics", {}), primary):
            rows.append(
                {
                    "dataset": md(ds),
                    **{k: row[k] for k in ("name", "value", "ci")},
                    "n": block.get("n", "n/a"),
                    "removed": block.get("removed_duplicates", "n/a"),
                }
            )
    return rows


#: how the card names the two split protocols of a cross-validation
PROTOCOL_TITLES = {
    "patient": "honest protocol (patient-level folds)",
    "image": "paper protocol (image-level folds)",
}


def _signed(v: Any) -> str:
    return "n/a" if v is None else f"{v:+.4f}"


def _crossval(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The card's cross-validation section: per-fold rows, mean +- SD per protocol, and the leak line."""
    cv = metrics.get("crossval")
    if not cv:
        return None
    protocols = [
        {
            "title": PROTOCOL_TITLES.get(p["protocol"], md(p["protocol"])),
            "mean_sd": f"{_fmt(p.get('mean'))} ± {_fmt(p.get('sd'))}",
            "folds": [
                {k: _fmt(f.get(k)) for k in ("fold", "value", "n_test", "n_patients", "epochs")}
                for f in p["folds"]
            ],
        }
        for p in cv["protocols"]
    ]
    leak, means = cv.get("leak"), {p["protocol"]: p.get("mean") for p in cv["protocols"]}
    leak_line = None
    if leak:
        ci = (
            "n/a"
            if leak.get("ci_low") is None or leak.get("ci_high") is None
            else f"[{_signed(leak['ci_low'])}, {_signed(leak['ci_high'])}]"
        )
        leak_line = (
            f"paper protocol (image-level) {_fmt(means.get('image'))} vs honest protocol (patient-level) "
            f"{_fmt(means.get('patient'))}: difference {_signed(leak.get('difference'))}, 95 % CI {ci} "
            f"({md(leak.get('metric', cv['metric']))}, image minus patient)"
        )
    return {
        "metric": md(cv["metric"]),
        "k": cv["k"],
        "trial_id": md(cv.get("trial_id", "")),
        "protocols": protocols,
        "leak": leak_line,
    }


_GRADCAM_ROWS = (
    ("pointing_game", "pointing-game hit rate"),
    ("energy_in_mask", "CAM energy inside lesion mask"),
    ("faithfulness", "faithfulness (ROAD, higher is better)"),
)


def _gradcam_rows(cam: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": title, "value": _fmt(cam[key]["value"]), "ci": _ci(cam[key]), "n": cam[key].get("n", "n/a")}
        for key, title in _GRADCAM_ROWS
        if key in cam and cam[key].get("value") is not None
    ]


def _gradcam_note(cam: dict[str, Any]) -> str:
    if cam.get("note"):
        return md(cam["note"])
    if cam.get("mask_share") is not None:
        return f"Chance level of the energy share (mean mask area): {_fmt(cam.get('mask_share'))}."
    return ""


def _reported_rows(reported: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
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


def _summary_fields(entry_id: str, revision: str, config: dict[str, Any], metrics, dataset) -> dict[str, Any]:
    """The body's header table: what the model is, on which data, with which input."""
    med = config["medzoo"]
    labels = list(config["label_names"])
    cx = metrics.get("complexity", {})
    title = dataset.get("title", med["dataset"])
    return dict(
        title=md(f"{entry_id} ({revision})"),
        summary=md(
            f"A {med['family']} classifier for {title} ({med['task']}, {len(labels)} classes), selected by a "
            "medzoo hyperparameter search and tested once on the held-out test split."
        ),
        data_kind=med["data_kind"],
        dataset_title=md(title),
        dataset_id=med["dataset"],
        entry_id=entry_id,
        revision=revision,
        published_at=med.get("published_at"),
        architecture=config["architecture"],
        library_name=med.get("library_name") or "timm",
        pull_dir=f"./{med['dataset']}-{entry_id.rsplit('/', 1)[-1]}-{revision}",
        family=med["family"],
        params_m=_fmt(cx["params"] / 1e6, 3) if cx.get("params") is not None else "n/a",
        gmacs=_fmt(cx.get("gmacs"), 3),
        input_size="x".join(str(v) for v in config["pretrained_cfg"]["input_size"]),
        modality=md(dataset.get("modality", "")),
        task=med["task"],
        label_list=", ".join(md(x) for x in labels),
        split_protocol=md(med.get("split_protocol", "")),
        input_format=md(_input_format(config, dataset)),
        intended_use=md(_INTENDED_USE),
        limitations=md(_limitations(med)),
    )


def _evidence_fields(
    config: dict[str, Any], metrics: dict[str, Any], search: dict[str, Any]
) -> dict[str, Any]:
    """The body's results: metrics with intervals, per class, patient level, cross-dataset, Grad-CAM, search."""
    med = config["medzoo"]
    primary = metrics["primary_metric"]
    cam = metrics.get("gradcam", {})
    resamples = (metrics.get("ci") or {}).get("resamples", "n/a")
    return dict(
        n_test=metrics.get("n", "n/a"),
        ci_text=f"95 % bootstrap intervals, {resamples} resamples",
        configurations_compared=search.get("configurations_compared", "n/a"),
        metric_rows=_interval_rows(metrics["metrics"], primary),
        per_class_rows=_per_class_rows(metrics),
        patient_level_rows=_interval_rows((metrics.get("patient_level") or {}).get("metrics", {}), primary),
        patient_n=_patients(metrics.get("patient_level") or {}),
        crossval=_crossval(metrics),
        cross_rows=_cross_rows(metrics, primary),
        cam_layer=md(cam.get("target_layer", med.get("cam_layer", ""))),
        gradcam_rows=_gradcam_rows(cam),
        gradcam_note=_gradcam_note(cam),
        run_name=md(search.get("run_name", "")),
        search_kind=md(search.get("search", "")),
        scheduler=md(search.get("scheduler", "")),
        smoke=bool(search.get("smoke")),
        trials=search.get("trials", "n/a"),
        compute_hours=_fmt(search.get("compute_hours"), 3),
        trial_id=md(med.get("trial_id", "")),
        best_config=md(search.get("best_config_text", "")),
    )


def licence_text(*, entry_id: str, dataset: dict[str, Any]) -> str:
    """LICENSE.md of an entry: the weights inherit the terms of the data they were trained on."""
    title = dataset.get("title", entry_id.split("/", 1)[0])
    return (
        f"# Terms of use of {entry_id}\n\n"
        f"These weights were trained on {title}. They are released for research under the terms of that "
        "data set, which the user must accept and follow:\n\n"
        f"- {dataset.get('licence') or 'the data set publishes no licence: ask its authors before any use'}\n"
        f"- cite: {dataset.get('citation') or 'the data set as its authors ask'}\n\n"
        "The code that produced them (medzoo) is Apache-2.0. Not a medical device; not for diagnosis.\n"
    )


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
    """The ModelCard of one entry revision; ``dataset`` holds title, modality, source, licence, notes.

    ``config``/``metrics``/``search`` are the JSON forms of the entry's records (``to_dict()``), the same
    data the card's front matter must agree with.
    """
    from huggingface_hub import ModelCard

    card_data = _card_data(
        entry_id=entry_id, revision=revision, config=config, metrics=metrics, search=search, dataset=dataset
    )
    body_kwargs = dict(
        **_summary_fields(entry_id, revision, config, metrics, dataset),
        **_evidence_fields(config, metrics, search),
        plots=[{"title": md(p["title"]), "file": p["file"]} for p in plots],
        overlays=[{"file": o["file"], "caption": md(o["caption"])} for o in overlays],
        reported_rows=_reported_rows(reported),
        data_source=md(dataset.get("citation", "unknown")),
        data_licence=md(dataset.get("licence", "unknown")),
        dataset_notes=[md(n) for n in dataset.get("notes", [])],
    )
    template = resources.files("medzoo.zoo.entries").joinpath(TEMPLATE).read_text(encoding="utf-8")
    return ModelCard.from_template(card_data, template_str=template, **body_kwargs)
