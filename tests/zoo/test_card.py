"""Model cards: built with huggingface_hub, read back by ModelCard.load with the eval results intact."""

from __future__ import annotations

import copy

import pytest
from huggingface_hub import EvalResult, ModelCard

from medzoo.zoo.entries.card import build_card, md

CONFIG = {
    "architecture": "medzoo_tiny_cnn",
    "num_classes": 3,
    "label_names": ["glioma", "meningioma", "pituitary"],
    "model_args": {"head": "linear"},
    "pretrained_cfg": {
        "input_size": [3, 64, 64],
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "interpolation": "bilinear",
        "crop_pct": 1.0,
        "num_classes": 3,
    },
    "medzoo": {
        "dataset": "figshare-brain",
        "task": "multiclass",
        "family": "efficientnet_b2",
        "cam_layer": "backbone.conv_head",
        "weights_sha256": "0" * 64,
        "data_kind": "phantom",
        "split_protocol": "patient",
        "published_at": "2026-11-22T07:00:00+00:00",
        "revision": "r1",
        "trial_id": "t0001",
        "threshold": 0.5,
    },
}
METRICS = {
    "dataset": "figshare-brain",
    "split": "test",
    "primary_metric": "accuracy",
    "n": 40,
    "metrics": {
        "accuracy": {"value": 0.875, "ci_low": 0.775, "ci_high": 0.975},
        "macro_f1": {"value": 0.86, "ci_low": 0.74, "ci_high": 0.95},
        "macro_auc": {"value": 0.95, "ci_low": 0.9, "ci_high": 0.99},
    },
    "per_class": {"glioma": {"sensitivity": 0.9, "specificity": 0.95, "auc": 0.97}},
    "confusion_matrix": [[9, 1, 0], [1, 8, 1], [0, 2, 18]],
    "ci": {"method": "bootstrap", "level": 0.95, "resamples": 1000},
    "complexity": {"params": 123456, "gmacs": 0.012},
    "gradcam": {
        "target_layer": "backbone.conv_head",
        "pointing_game": {"value": 0.8, "ci_low": 0.65, "ci_high": 0.92, "n": 30},
        "energy_in_mask": {"value": 0.4, "ci_low": 0.33, "ci_high": 0.47, "n": 30},
        "faithfulness": {"method": "ROAD", "value": 0.1, "ci_low": 0.05, "ci_high": 0.15, "n": 16},
        "mask_share": 0.08,
    },
}
SEARCH = {
    "run_name": "run-1",
    "recipe": "brain-effnet",
    "search": "optuna",
    "scheduler": "asha",
    "trials": 8,
    "configurations_compared": 7,
    "compute_hours": 0.02,
    "smoke": True,
    "space": {"lr": [1e-4, 1e-2]},
    "best_config_text": '{"lr": 0.001}',
}
DATASET = {
    "title": "Figshare brain tumour",
    "modality": "MRI (T1-CE)",
    "citation": "Cheng et al.",
    "licence": "CC BY 4.0",
    "notes": ["patient-level split"],
    "channels": 1,
}
REPORTED = [
    {
        "study": "EffNet brain",
        "variant": None,
        "metrics": {"accuracy": 0.9935},
        "params_m": 7.77,
        "gflops": 1.64,
        "protocol": "image-level 80/20 split (seed 3); leaks patients",
    }
]


def _card(**overrides):
    kw = dict(
        entry_id="figshare-brain/efficientnet_b2",
        revision="r1",
        config=CONFIG,
        metrics=METRICS,
        search=SEARCH,
        dataset=DATASET,
        reported=REPORTED,
        plots=[{"title": "confusion matrix", "file": "plots/confusion_matrix.png"}],
        overlays=[{"file": "gradcam/glioma_00.png", "caption": "Grad-CAM for glioma"}],
    )
    kw.update(overrides)
    return build_card(**kw)


def test_card_round_trips_through_modelcard_load_with_eval_results(tmp_path):
    _card().save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")
    data = loaded.data
    assert data.library_name == "timm" and data.datasets is None  # no Hub dataset id exists for it
    assert data.model_name == "figshare-brain/efficientnet_b2"
    results = {r.metric_args["medzoo_metric"]: r for r in data.eval_results}
    assert set(results) == {"accuracy", "macro_f1", "macro_auc"}
    assert {r.metric_type for r in data.eval_results} == {"accuracy", "f1", "roc_auc"}  # the Hub's ids
    assert results["macro_f1"].metric_args["average"] == "macro"
    acc = results["accuracy"]
    assert isinstance(acc, EvalResult)
    assert acc.metric_value == pytest.approx(0.875) and acc.dataset_split == "test"
    assert acc.dataset_type == "figshare-brain" and acc.task_type == "image-classification"
    assert acc.metric_args["ci_low"] == pytest.approx(0.775) and acc.metric_args["ci_high"] == pytest.approx(
        0.975
    )
    assert data.eval_results[0].metric_type == "accuracy"  # primary first
    med = data.to_dict()["medical"]
    assert med["modality"] == "MRI (T1-CE)" and med["label_names"] == CONFIG["label_names"]
    assert med["phantom"] is True and med["split_protocol"] == "patient" and med["intended_use"]
    prov = data.to_dict()["search"]
    assert prov["trials"] == 8 and prov["configurations_compared"] == 7 and prov["scheduler"] == "asha"
    assert "synthetic-phantom" in data.tags


def test_card_body_has_metrics_with_intervals_evidence_and_labelled_paper_numbers():
    text = _card().text
    assert "| accuracy (primary) | 0.8750 | [0.7750, 0.9750] |" in text
    assert "pointing-game hit rate | 0.8000 | [0.6500, 0.9200] | 30" in text
    assert "![confusion matrix](plots/confusion_matrix.png)" in text
    assert "![Grad-CAM for glioma](gradcam/glioma_00.png)" in text
    assert "paper-reported" in text and "leaks patients" in text and "accuracy 0.9935" in text
    assert "Phantom data" in text


def test_hostile_label_names_are_escaped_in_the_body():
    cfg = copy.deepcopy(CONFIG)
    cfg["label_names"] = ["<script>alert(1)</script>", "a|b", "c"]
    text = _card(config=cfg).text
    assert "<script>" not in text.split("---", 2)[2]
    assert "&lt;script&gt;" in text and "a\\|b" in text
    assert md("x\n|<y>") == "x \\|&lt;y&gt;"


def test_real_data_card_has_no_phantom_banner_and_no_reported_rows_is_said():
    cfg = copy.deepcopy(CONFIG)
    cfg["medzoo"]["data_kind"] = "real"
    text = _card(config=cfg, reported=[]).text
    assert "Phantom data" not in text
    assert "report no numbers" in text


def test_card_shows_crossval_folds_means_and_the_leak_with_its_interval():
    from medzoo.formats.run import CrossvalResult, FoldResult, LeakGap, ProtocolResult

    def protocol(name, values):
        folds = tuple(
            FoldResult(fold=k, value=v, n_test=30, n_patients=6, epochs=4) for k, v in enumerate(values)
        )
        return ProtocolResult(protocol=name, folds=folds, mean=sum(values) / len(values), sd=0.02)

    cv = CrossvalResult(
        trial_id="t0001",
        metric="<i>accuracy</i>",
        k=2,
        protocols=(protocol("patient", (0.70, 0.74)), protocol("image", (0.88, 0.90))),
        leak=LeakGap(metric="accuracy", difference=0.17, ci_low=0.12, ci_high=0.22),
    )
    metrics = {**copy.deepcopy(METRICS), "crossval": cv.to_dict()}
    text = str(_card(metrics=metrics))
    assert "## Cross-validation (2 folds, &lt;i&gt;accuracy&lt;/i&gt;)" in text and "<i>" not in text
    assert "| honest protocol (patient-level folds) | 0.7200 ± 0.0200 |" in text
    assert "| paper protocol (image-level folds) | 0.8900 ± 0.0200 |" in text
    assert "| paper protocol (image-level folds) | 1 | 0.9000 | 30 | 6 | 4 |" in text
    assert (
        "paper protocol (image-level) 0.8900 vs honest protocol (patient-level) 0.7200: difference +0.1700, "
        "95 % CI [+0.1200, +0.2200]"
    ) in text
    assert "Cross-validation" not in str(_card())


def test_card_says_how_many_patients_a_patient_level_vote_rests_on():
    level = {
        "n": 11,
        "n_patients": 11,
        "metrics": {"accuracy": {"value": 0.8, "ci_low": 0.6, "ci_high": 1.0}},
    }
    text = str(_card(metrics={**copy.deepcopy(METRICS), "patient_level": level}))
    assert "### Patient level" in text and "rest on **11 patients**" in text
