"""The entry's typed files (medzoo.formats.entry): each round-trips, and each kind of broken file is one
FormatError naming the file and the field."""

from __future__ import annotations

import json

import pytest

from medzoo.errors import FormatError
from medzoo.formats.entry import EntryConfig, EntryMetrics, Refs, SearchProvenance

CONFIG = {
    "architecture": "medzoo_tiny_cnn",
    "num_classes": 2,
    "label_names": ["benign", "malignant"],
    "model_args": {"head": "linear", "img_size": 64},
    "pretrained_cfg": {
        "input_size": [3, 64, 64],
        "mean": [0.5, 0.5, 0.5],
        "std": [0.2, 0.2, 0.2],
        "crop_pct": 1.0,
    },
    "medzoo": {
        "dataset": "cbis-ddsm-mass",
        "task": "binary",
        "family": "tiny_cnn",
        "library_name": "medzoo",
        "weights_sha256": "a" * 64,
        "data_kind": "real",
        "published_at": "2026-11-20T10:00:00+00:00",
        "cam_layer": "backbone.stage2",
        "threshold": 0.5,
        "revision": "r3",
    },
}
METRICS = {
    "dataset": "cbis-ddsm-mass",
    "split": "test",
    "primary_metric": "auc",
    "n": 40,
    "metrics": {"auc": {"value": 0.8, "ci_low": 0.7, "ci_high": 0.9}, "accuracy": {"value": 0.75}},
    "per_class": {"benign": {"sensitivity": 0.8, "specificity": 0.7}},
    "ci": {"method": "bootstrap", "level": 0.95, "resamples": 200, "seed": 0},
    "confusion_matrix": [[15, 5], [5, 15]],
    "patient_level": {
        "vote": "majority",
        "n": 20,
        "metrics": {"auc": {"value": 0.82, "ci_low": 0.6, "ci_high": 0.95}},
    },
    "complexity": {
        "params": 1000,
        "gmacs": 0.01,
        "latency_ms": {"1": 0.5},
        "device": "cpu",
        "input_size": [3, 64, 64],
    },
    "gradcam": {
        "target_layer": "backbone.stage2",
        "method": "GradCAM",
        "pointing_game": {"value": 0.5, "ci_low": 0.3, "ci_high": 0.7, "n": 20},
        "faithfulness": {"method": "ROAD", "value": 0.1, "ci_low": 0.0, "ci_high": 0.2, "n": 4},
    },
    "cross_dataset": {"other": {"n": 10, "metrics": {"auc": {"value": 0.6}}, "removed_duplicates": 2}},
}
SEARCH = {
    "run": "s3://bucket/runs/r1",
    "run_name": "r1",
    "primary_metric": "auc",
    "trials": 4,
    "configurations_compared": 4,
    "trial_id": "t0001",
    "best_config": {"lr": 0.001},
    "budget": {"samples": 4, "epochs": 3},
}
RECORDS = [
    (EntryConfig, CONFIG),
    (EntryMetrics, METRICS),
    (SearchProvenance, SEARCH),
    (Refs, {"latest": "r2", "revisions": ["r1", "r2"]}),
]


@pytest.mark.parametrize("cls, data", RECORDS, ids=[c.__name__ for c, _ in RECORDS])
def test_round_trip(tmp_path, cls, data):
    record = cls.from_dict(data)
    written = record.write(tmp_path)
    assert written.name == cls.FILENAME
    again = cls.read(tmp_path)
    assert again == record and again.to_dict() == record.to_dict()
    on_disk = json.loads((tmp_path / cls.FILENAME).read_text())
    assert {k: v for k, v in on_disk.items() if k != "format_version"} == record.to_dict()
    assert all(on_disk[k] == v for k, v in json.loads(json.dumps(data)).items())  # nothing given is lost


def _required_scalar(cls, data: dict) -> str:
    """A field the file must have, holding a string or a number."""
    import dataclasses

    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    return next(
        k for k, v in data.items() if k in required and isinstance(v, str | int) and not isinstance(v, bool)
    )


@pytest.mark.parametrize("cls, data", RECORDS, ids=[c.__name__ for c, _ in RECORDS])
def test_schema_violations_name_the_file_and_field(tmp_path, cls, data):
    path = tmp_path / cls.FILENAME
    key = _required_scalar(cls, data) if cls is not Refs else "latest"
    cases = {
        "wrong type": json.dumps({**data, key: [1, 2]}).encode(),
        "missing field": json.dumps({k: v for k, v in data.items() if k != key}).encode(),
        "unknown field": json.dumps({**data, "surprise": 1}).encode(),
        "newer version": json.dumps({**data, "format_version": 99}).encode(),
        "non-UTF-8": json.dumps(data).encode()[:-2] + b'\xff"}',
        "truncated": json.dumps(data).encode()[:-7],
    }
    for case, raw in cases.items():
        path.write_bytes(raw)
        with pytest.raises(FormatError) as info:
            cls.read(tmp_path)
        message = info.value.message
        assert cls.FILENAME in message, (case, message)
        if case in ("wrong type", "missing field"):
            assert key in message, (case, message)
        if case == "newer version":
            assert "format_version 99" in message and "upgrade" in (info.value.fix or "")


def test_config_checks_what_a_model_is_built_from():
    def bad(**changes) -> str:
        data = json.loads(json.dumps(CONFIG))
        for path, value in changes.items():
            *parents, last = path.split("__")
            node = data
            for p in parents:
                node = node[p]
            node[last] = value
        with pytest.raises(FormatError) as info:
            EntryConfig.from_dict(data, where="config.json")
        return info.value.message

    assert "architecture" in bad(architecture="hf-hub:x/y")
    assert "label_names" in bad(num_classes=3)
    assert "input_size" in bad(pretrained_cfg__input_size=[3, 8, 8])
    assert "std" in bad(pretrained_cfg__std=[0, 0, 0])
    assert "model_args.checkpoint_path" in bad(model_args__checkpoint_path="/x")
    assert "threshold" in bad(medzoo__threshold=1.5)
    assert "library_name" in bad(medzoo__library_name="keras")
