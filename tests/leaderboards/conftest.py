"""Hand-made zoo entries written exactly per the contract (config.json, metrics.json, card, refs.json)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# a 1x1 PNG: enough for the site to copy and link
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e221bc330000000049454e44ae426082"
)


def write_entry(
    zoo: Path,
    dataset: str,
    name: str,
    *,
    value: float,
    ci: tuple[float, float] | None = None,
    gmacs: float | None = 1.0,
    params: int | None = 5_000_000,
    model_name: str | None = None,
    data_kind: str = "phantom",
    primary: str = "accuracy",
    extra_metrics: dict[str, Any] | None = None,
    card_text: str = "A test model.",
    card_value: float | None = None,
    cross_dataset: dict[str, Any] | None = None,
    revision: str = "r1",
    published_at: str = "2026-11-20T10:00:00+00:00",
    split_protocol: str = "patient",
) -> Path:
    """One entry revision in ``ZOO/<dataset>/<name>/<revision>/`` (the zoo's on-disk contract)."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    home = zoo / dataset / name
    path = home / revision
    (path / "plots").mkdir(parents=True)
    (path / "gradcam").mkdir()
    (path / "plots" / "confusion_matrix.png").write_bytes(PNG_1PX)
    (path / "gradcam" / "class0.png").write_bytes(PNG_1PX)
    low, high = ci if ci is not None else (value - 0.02, value + 0.02)
    metrics = {primary: {"value": value, "ci_low": low, "ci_high": high}, **(extra_metrics or {})}
    doc: dict[str, Any] = {
        "dataset": dataset,
        "split": "test",
        "primary_metric": primary,
        "n": 120,
        "metrics": metrics,
        "per_class": {},
        "confusion_matrix": [[1, 0], [0, 1]],
        "ci": {"method": "bootstrap", "level": 0.95, "resamples": 1000},
        "complexity": {
            "params": params,
            "gmacs": gmacs,
            "unit": "GMACs",
            "latency_ms": {"1": 3.5, "8": 20.0},
            "device": "cpu",
        },
        "gradcam": {
            "target_layer": "features",
            "method": "gradcam",
            "pointing_game": {"value": 0.75, "ci_low": 0.6, "ci_high": 0.9, "n": 40},
        },
    }
    if cross_dataset:
        doc["cross_dataset"] = cross_dataset
    (path / "metrics.json").write_text(json.dumps(doc))
    config = {
        "architecture": "medzoo_tiny_cnn",
        "num_classes": 2,
        "label_names": ["a", "b"],
        "model_args": {},
        "pretrained_cfg": {"input_size": [3, 32, 32], "mean": [0.5] * 3, "std": [0.5] * 3},
        "medzoo": {
            "dataset": dataset,
            "task": "multiclass",
            "family": "tiny_cnn",
            "data_kind": data_kind,
            "split_protocol": split_protocol,
            "published_at": published_at,
            "revision": revision,
            "weights_sha256": "0" * 64,
        },
    }
    (path / "config.json").write_text(json.dumps(config))
    data = ModelCardData(
        model_name=model_name or name,
        license="apache-2.0",
        eval_results=[
            EvalResult(
                task_type="image-classification",
                dataset_type=dataset,
                dataset_name=dataset,
                metric_type=primary,
                metric_value=value if card_value is None else card_value,
            )
        ],
    )
    card = ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n\n" + card_text + "\n")
    card.save(path / "README.md")
    revisions = (
        sorted({*json.loads((home / "refs.json").read_text())["revisions"], revision})
        if (home / "refs.json").exists()
        else [revision]
    )
    (home / "refs.json").write_text(json.dumps({"latest": revisions[-1], "revisions": revisions}))
    return path


@pytest.fixture
def make_entry(tmp_path: Path) -> Callable[..., Path]:
    """``make_entry(dataset, name, value=..., ...)`` writes an entry into ``tmp_path / "zoo"``."""
    zoo = tmp_path / "zoo"

    def make(dataset: str, name: str, *, into: Path | None = None, **kw: Any) -> Path:
        return write_entry(into or zoo, dataset, name, **kw)

    make.zoo = zoo  # type: ignore[attr-defined]
    return make


@pytest.fixture(scope="session")
def entry_writer() -> Callable[..., Path]:
    """``write_entry`` itself, for module- and session-scoped zoos."""
    return write_entry
