"""Families as timm models: lazy registration, timm's model API, and entries timm loads without medzoo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import load_file, save_file

from medzoo.errors import ConfigError
from medzoo.zoo import create_model
from medzoo.zoo.architectures.timm_bridge import medzoo_model, timm_export


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_import_hook_registers_families_once_timm_is_imported_and_imports_neither_itself() -> None:
    """The hook module is cheap; after ``import timm`` every family resolves by its medzoo_ name."""
    medzoo_dir = Path(__import__("medzoo").__file__).parent
    run = _python(
        "import sys, types\n"
        # an empty medzoo package: this test is about the hook alone, whatever medzoo/__init__ imports
        f"pkg = types.ModuleType('medzoo'); pkg.__path__ = [{str(medzoo_dir)!r}]; sys.modules['medzoo'] = pkg\n"
        "from medzoo.zoo.architectures.timm_bridge import install_import_hook\n"
        "install_import_hook(); install_import_hook()\n"
        "heavy = sorted(m for m in ('torch', 'timm') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "import timm\n"
        "names = timm.list_models('medzoo_*')\n"
        "m = timm.create_model('medzoo_tiny_cnn', num_classes=2)\n"
        "print(len(names), 'medzoo_tiny_cnn' in names, type(m).__name__, m.num_classes)\n"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    count, has_tiny, cls, num_classes = run.stdout.split()
    assert int(count) >= 27 and has_tiny == "True" and cls == "MedzooNet" and num_classes == "2"


def test_import_medzoo_then_timm_resolves_medzoo_names() -> None:
    run = _python(
        "import medzoo\n"
        "from medzoo.zoo.architectures.timm_bridge import install_import_hook\n"
        "install_import_hook()\n"
        "import timm\n"
        "print(timm.create_model('medzoo_tiny_effnet', num_classes=4).num_classes)\n"
    )
    assert run.returncode == 0 and run.stdout.split()[-1] == "4", run.stderr[-3000:]


@pytest.mark.parametrize(("name", "head"), [("tiny_cnn", "mlp_bn"), ("tiny_effnet", "linear")])
def test_timm_model_api(name: str, head: str) -> None:
    torch.manual_seed(0)
    dropout = 0.0 if head == "linear" else 0.2
    model = create_model(name, num_classes=3, head=head, dropout=dropout).eval()
    cfg = model.pretrained_cfg
    for key in ("url", "hf_hub_id", "num_classes", "input_size", "pool_size", "crop_pct", "interpolation"):
        assert key in cfg, key
    assert cfg["first_conv"] + ".weight" in model.state_dict()
    assert cfg["classifier"] + ".weight" in model.state_dict()
    x = torch.randn(2, *cfg["input_size"])
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape[1] == model.num_features and tuple(features.shape[-2:]) == tuple(
            cfg["pool_size"]
        )
        pre = model.forward_head(features, pre_logits=True)
        assert pre.shape == (2, model.head_hidden_size)
        assert torch.equal(model.forward_head(features), model.get_classifier()(pre))
        assert torch.allclose(model(x), model.forward_head(features))
        expected_hidden = 256 if head == "mlp_bn" else model.num_features
        assert model.head_hidden_size == expected_hidden

        model.reset_classifier(0)
        assert model.num_classes == 0 and torch.allclose(model(x), pre)
        model.reset_classifier(0, "")
        assert model(x).shape == features.shape
        model.reset_classifier(5, "avg")
        assert model(x).shape == (2, 5) and model.get_classifier().out_features == 5
    with pytest.raises(ConfigError, match="num_classes must be 0"):
        model.reset_classifier(5, "")
    with pytest.raises(TypeError, match="does not take"):
        timm.create_model(f"medzoo_{name}", not_a_model_arg=1)

    # features_only: one map per level, as feature_info says
    feats = timm.create_model(f"medzoo_{name}", features_only=True, head=head, dropout=dropout).eval()
    with torch.no_grad():
        maps = feats(x)
    assert len(maps) == len(feats.feature_info.channels()) >= 3
    for fmap, chs, red in zip(
        maps, feats.feature_info.channels(), feats.feature_info.reduction(), strict=True
    ):
        assert fmap.shape[1] == chs and fmap.shape[-1] == x.shape[-1] // red


def test_models_are_fx_traceable() -> None:
    """torch.fx as timm uses it (its leaf modules and functions): no control flow on traced values."""
    from timm.models import get_notrace_functions, get_notrace_modules
    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

    torch.manual_seed(0)
    for name, kw in (
        ("efficientnetv2_dsp", {"img_size": 32}),
        ("tiny_cnn", {"head": "mlp_bn", "dropout": 0.1}),
    ):
        model = create_model(name, num_classes=2, **kw).eval()  # DSP: DropBlock, ODConv, SAR
        tracer_kwargs = {"leaf_modules": get_notrace_modules(), "autowrap_functions": get_notrace_functions()}
        _, nodes = get_graph_node_names(model, tracer_kwargs=tracer_kwargs)
        traced = create_feature_extractor(model, return_nodes=[nodes[-1]], tracer_kwargs=tracer_kwargs)
        x = torch.randn(1, 3, 32, 32)
        with torch.no_grad():
            assert torch.allclose(next(iter(traced(x).values())), model(x), atol=1e-5)


def _save_entry(folder: Path, model: torch.nn.Module, labels: list[str]) -> None:
    """As a zoo entry does: config.json (timm's fields from timm_export) + model.safetensors."""
    export = timm_export(model)
    folder.mkdir(parents=True)
    config = {
        "architecture": export.architecture,
        "num_classes": model.num_classes,
        "num_features": model.num_features,
        "label_names": labels,
        "model_args": export.model_args,
        "pretrained_cfg": export.pretrained_cfg,
    }
    (folder / "config.json").write_text(json.dumps(config))
    save_file(export.state_dict(model), str(folder / "model.safetensors"))


NATIVE = [  # (family, kwargs, timm's architecture)
    ("tiny_effnet", {"head": "linear", "img_size": 64, "freeze": 2}, "test_efficientnet"),
    ("tiny_effnet", {"head": "gap_dropout", "dropout": 0.3}, "test_efficientnet"),
    ("tiny_resnet", {"head": "linear"}, "test_resnet"),
    ("efficientnet_b0", {"head": "linear"}, "efficientnet_b0"),
]


def test_timm_native_entries_load_with_timm_alone(tmp_path: Path) -> None:
    """Entries of timm architectures: timm builds them by its own name in a Python that never imports medzoo."""
    x = torch.randn(2, 3, 64, 64)
    save_file({"x": x}, str(tmp_path / "x.safetensors"))
    expected, entries = {}, []
    for i, (name, kw, architecture) in enumerate(NATIVE):
        torch.manual_seed(i)
        model = create_model(name, num_classes=3, **kw)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        model.train()
        model(torch.randn(4, 3, 64, 64))  # BN running statistics differ from a fresh model's
        model.eval()
        export = timm_export(model)
        assert export.library_name == "timm" and export.architecture == architecture
        entry = tmp_path / f"entry{i}"
        _save_entry(entry, model, ["a", "b", "c"])
        entries.append(str(entry))
        with torch.no_grad():
            expected[str(i)] = model(x)
        # and back: the published weights load into medzoo's model under medzoo's keys
        again = medzoo_model(
            family=name,
            num_classes=3,
            model_args=model.medzoo["model_args"],
            state_dict=load_file(str(entry / "model.safetensors")),
        )
        assert again.medzoo == model.medzoo
        with torch.no_grad():
            assert torch.allclose(again(x), expected[str(i)], atol=1e-6)
    run = _python(
        "import sys, timm, torch\n"
        "from safetensors.torch import load_file, save_file\n"
        f"x = load_file({str(tmp_path / 'x.safetensors')!r})['x']\n"
        "out = {}\n"
        f"for i, entry in enumerate({entries!r}):\n"
        "    m = timm.create_model('local-dir:' + entry, pretrained=True).eval()\n"
        "    assert type(m).__module__.startswith('timm.'), type(m)\n"
        "    assert list(m.pretrained_cfg['label_names']) == ['a', 'b', 'c']\n"
        "    with torch.no_grad():\n"
        "        out[str(i)] = m(x)\n"
        "assert not [k for k in sys.modules if k.split('.')[0] == 'medzoo'], 'medzoo was imported'\n"
        f"save_file(out, {str(tmp_path / 'y.safetensors')!r})\n"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    got = load_file(str(tmp_path / "y.safetensors"))
    for key, value in expected.items():
        assert torch.allclose(got[key], value, atol=1e-5), NATIVE[int(key)]


def test_architectures_only_medzoo_has_say_library_medzoo(tmp_path: Path) -> None:
    for name, kw in (
        ("tiny_cnn", {}),  # medzoo's own family
        ("tiny_effnet", {"head": "mlp_bn", "dropout": 0.2}),  # a head timm does not have
    ):
        model = create_model(name, num_classes=2, **kw)
        export = timm_export(model)
        assert export.library_name == "medzoo" and export.architecture == f"medzoo_{name}"
        assert export.model_args == model.medzoo["model_args"]
        assert set(export.state_dict(model)) == set(model.state_dict())
    _save_entry(tmp_path / "entry", model, ["x", "y"])
    loaded = timm.create_model(f"local-dir:{tmp_path / 'entry'}", pretrained=True)  # medzoo imported here
    assert loaded.medzoo["model_args"] == json.loads(json.dumps(model.medzoo["model_args"]))
