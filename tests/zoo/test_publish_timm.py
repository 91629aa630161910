"""Entries of timm architectures are timm-native: timm alone (a Python that never imports medzoo) loads them
from the entry folder and gives the logits medzoo gives; medzoo-only architectures say so."""

from __future__ import annotations

import json
import subprocess
import sys

import torch

from medzoo.formats.entry import EntryConfig
from medzoo.zoo import create_model
from medzoo.zoo.entries import store
from medzoo.zoo.entries.publishing import export_model


def _entry(zoo, family: str, **model_args) -> tuple[str, object]:
    torch.manual_seed(0)
    model = create_model(family, num_classes=3, pretrained=False, img_size=32, **model_args).eval()
    from safetensors.torch import save

    weights = save({k: v.contiguous() for k, v in model.state_dict().items()})
    published = export_model(
        model,
        weights=weights,
        image_size=32,
        mean=(0.5,) * 3,
        std=(0.25,) * 3,
        num_classes=3,
        cam_layer=model.medzoo["cam_layer"],
    )
    path = zoo / "figshare-brain" / family / "r1"
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(published.weights)
    EntryConfig.from_dict(
        {
            "architecture": published.architecture,
            "num_classes": 3,
            "label_names": ["a", "b", "c"],
            "model_args": published.model_args,
            "pretrained_cfg": published.pretrained_cfg,
            "medzoo": {
                "dataset": "figshare-brain",
                "task": "multiclass",
                "family": family,
                "library_name": published.library_name,
                "cam_layer": published.cam_layer,
                "weights_sha256": store.sha256_bytes(published.weights),
                "data_kind": "phantom",
                "published_at": "2026-11-20T10:00:00+00:00",
            },
        }
    ).write(path)
    store.add_revision(path.parent, "r1")
    return f"figshare-brain/{family}", model


def test_a_timm_architecture_loads_with_timm_alone(tmp_path):
    entry, medzoo_model = _entry(tmp_path / "zoo", "tiny_effnet")
    path = store.resolve_entry(entry, zoo=tmp_path / "zoo").path
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["architecture"] == "test_efficientnet" and cfg["medzoo"]["library_name"] == "timm"
    assert not {"hf_hub_id", "url", "file"} & set(cfg["pretrained_cfg"])  # no other weights referenced
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    torch.save(x, tmp_path / "x.pt")
    code = (
        "import sys, timm, torch\n"
        f"m = timm.create_model('local-dir:{path}', pretrained=True).eval()\n"
        "assert not any(k == 'medzoo' or k.startswith('medzoo.') for k in sys.modules), 'medzoo was imported'\n"
        f"x = torch.load('{tmp_path / 'x.pt'}', weights_only=True)\n"
        f"torch.save(m(x).detach(), '{tmp_path / 'y.pt'}')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    timm_alone = torch.load(tmp_path / "y.pt", weights_only=True)
    model, preprocess, labels = store.load(entry, zoo=tmp_path / "zoo")
    with torch.no_grad():
        torch.testing.assert_close(model(x), timm_alone)
        torch.testing.assert_close(medzoo_model(x), timm_alone)
    assert preprocess.input_size == (3, 32, 32) and labels == ["a", "b", "c"]
    model.get_submodule(cfg["medzoo"]["cam_layer"])  # the CAM layer exists in the published architecture


def test_a_medzoo_architecture_says_library_medzoo(tmp_path):
    entry, _ = _entry(tmp_path / "zoo", "tiny_cnn")
    cfg = store.read_config(store.resolve_entry(entry, zoo=tmp_path / "zoo").location)
    assert cfg.architecture == "medzoo_tiny_cnn" and cfg.medzoo.library_name == "medzoo"
    model, _, _ = store.load(entry, zoo=tmp_path / "zoo")
    model.get_submodule(cfg.medzoo.cam_layer)
