"""Shared pieces of the zoo store's hostile tests: a real (tiny, untrained) entry written through the
entry records, a secret file outside the zoo, and the CLI runner. Cases are generated in code (no blobs)."""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path
from typing import Any

import pytest

SECRET = "medzoo-hostile-entry-secret-7f3a"  # content of a file outside the zoo that must never leak
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e221bc330000000049454e44ae426082"
)
LABELS = ["glioma", "meningioma", "pituitary"]


@functools.lru_cache(maxsize=4)
def tiny_weights(num_classes: int = 3) -> tuple[bytes, dict[str, Any]]:
    """safetensors bytes of an untrained tiny_cnn at 32 px, and the model_args it reports."""
    import torch
    from safetensors.torch import save

    from medzoo.zoo import create_model

    torch.manual_seed(0)
    model = create_model("tiny_cnn", num_classes=num_classes, pretrained=False, img_size=32)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    return save(state), dict(model.medzoo["model_args"])


def entry_config(weights: bytes, model_args: dict[str, Any], *, dataset: str = "figshare-brain") -> dict:
    from medzoo.zoo.entries.store import sha256_bytes

    return {
        "architecture": "medzoo_tiny_cnn",
        "num_classes": 3,
        "label_names": list(LABELS),
        "model_args": model_args,
        "pretrained_cfg": {"input_size": [3, 32, 32], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
        "medzoo": {
            "dataset": dataset,
            "task": "multiclass",
            "family": "tiny_cnn",
            "cam_layer": "backbone.stage2",
            "weights_sha256": sha256_bytes(weights),
            "data_kind": "phantom",
            "published_at": "2026-11-20T10:00:00+00:00",
            "revision": "r1",
        },
    }


METRICS = {
    "dataset": "figshare-brain",
    "primary_metric": "accuracy",
    "n": 10,
    "metrics": {"accuracy": {"value": 0.8, "ci_low": 0.7, "ci_high": 0.9}},
    "complexity": {"params": 1000, "gmacs": 0.01},
}


def write_entry(
    zoo: Path,
    name: str = "m",
    *,
    dataset: str = "figshare-brain",
    revision: str = "r1",
    config: dict | None = None,
) -> Path:
    """One complete, valid entry revision (weights, config, metrics, card, plots, gradcam, refs)."""
    from medzoo.formats.entry import EntryConfig, EntryMetrics
    from medzoo.zoo.entries import store

    weights, model_args = tiny_weights()
    model_args = dict(model_args)
    path = zoo / dataset / name / revision
    (path / "plots" / "deep").mkdir(parents=True)
    (path / "gradcam").mkdir()
    (path / "model.safetensors").write_bytes(weights)
    cfg = config or entry_config(weights, model_args, dataset=dataset)
    EntryConfig.from_dict(cfg).write(path)
    EntryMetrics.from_dict({**METRICS, "dataset": dataset}).write(path)
    (path / "README.md").write_text(f"---\nlicense: other\n---\n# {name}\n")
    for rel in ("plots/roc.png", "plots/deep/a.png", "gradcam/glioma_00.png"):
        (path / rel).write_bytes(PNG_1PX)
    store.add_revision(path.parent, revision)
    return path


def secret_file(tmp_path: Path) -> Path:
    """A file outside every zoo whose content must never appear in medzoo's outputs."""
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    secret = outside / "secret.txt"
    secret.write_text(SECRET)
    return secret


def image_png(tmp_path: Path) -> Path:
    import numpy as np
    from PIL import Image

    path = tmp_path / "image.png"
    buf = io.BytesIO()
    Image.fromarray((np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)).save(buf, format="PNG")
    path.write_bytes(buf.getvalue())
    return path


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from medzoo.cli import main

    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(code: int, err: str, *needles: str) -> None:
    """Exit status 2, an ``error:`` line naming what is wrong, no traceback."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in err, (needle, err)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
