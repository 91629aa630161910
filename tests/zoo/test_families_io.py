"""Families meet the outside world: timm local-dir checkpoints, offline pretrained weights, paper-model switches."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from medzoo.errors import ModelError, PretrainedWeightsUnavailable
from medzoo.zoo import create_model


def _save_entry(model: torch.nn.Module, folder: Path, labels: list[str]) -> None:
    """Exactly the zoo entry's timm part: config.json + model.safetensors."""
    folder.mkdir(parents=True)
    cfg = model.pretrained_cfg
    config = {
        "architecture": f"medzoo_{model.medzoo['family']}",
        "num_classes": model.num_classes,
        "label_names": labels,
        "model_args": model.medzoo["model_args"],
        "pretrained_cfg": {
            k: cfg[k] for k in ("input_size", "mean", "std", "interpolation", "crop_pct", "num_classes")
        },
    }
    (folder / "config.json").write_text(json.dumps(config))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("tiny_cnn", {"head": "fc_1024_128", "dropout": 0.5}),
        ("tiny_effnet", {"head": "mlp_bn", "hidden": [32, 16], "dropout": 0.2, "freeze": 1, "img_size": 80}),
    ],
)
def test_entry_loads_with_timm_local_dir(tmp_path: Path, name: str, kw: dict) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, **kw)
    with torch.no_grad():  # weights that differ from any fresh init
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    model.train()
    model(torch.randn(4, 3, 64, 64))  # move BN running statistics too
    _save_entry(model, tmp_path / "entry", ["glioma", "meningioma", "pituitary"])

    loaded = timm.create_model(f"local-dir:{tmp_path / 'entry'}", pretrained=True)
    assert loaded.medzoo["model_args"] == json.loads(json.dumps(model.medzoo["model_args"]))
    assert loaded.pretrained_cfg["label_names"] == ("glioma", "meningioma", "pituitary") or list(
        loaded.pretrained_cfg["label_names"]
    ) == ["glioma", "meningioma", "pituitary"]
    ref, got = model.state_dict(), loaded.state_dict()
    assert ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref)
    x = torch.randn(2, 3, 64, 64)
    assert torch.allclose(model.eval()(x), loaded.eval()(x), atol=1e-6)

    # fine-tuning the entry for another class count keeps the backbone, re-initialises head.fc
    adapted = timm.create_model(f"local-dir:{tmp_path / 'entry'}", pretrained=True, num_classes=5)
    assert adapted.head.fc.out_features == 5
    assert torch.equal(
        adapted.state_dict()["backbone.stem.0.weight" if name == "tiny_cnn" else "backbone.conv_stem.weight"],
        ref["backbone.stem.0.weight" if name == "tiny_cnn" else "backbone.conv_stem.weight"],
    )


def test_pretrained_offline_fails_fast_naming_cache_and_repo(_isolated_home: Path) -> None:
    start = time.monotonic()
    with pytest.raises(PretrainedWeightsUnavailable) as info:
        create_model("tiny_effnet", num_classes=2, pretrained=True)
    assert time.monotonic() - start < 30
    message = str(info.value)
    assert "timm/test_efficientnet" in message  # the hub repo
    assert str(_isolated_home / "hf" / "hub") in message  # the cache that was searched
    assert "huggingface-cli download" in message and "pretrained=False" in message


def test_pretrained_offline_for_paper_models_names_the_backbone_repo() -> None:
    with pytest.raises(PretrainedWeightsUnavailable, match="tf_efficientnetv2_s"):
        create_model("efficientnetv2_dsp", num_classes=4, pretrained=True)


def test_torchvision_pretrained_offline_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(PretrainedWeightsUnavailable) as info:
        create_model("shufflenet_v2_x1_0", num_classes=4, pretrained=True)
    message = str(info.value)
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in message and "download.pytorch.org" in message


def test_families_without_imagenet_weights_say_so() -> None:
    with pytest.raises(ModelError, match="no ImageNet weights for resnetv2_152"):
        create_model("resnetv2_152", num_classes=3, pretrained=True)


# --- the papers' models against their bases ------------------------------------------------


def test_xception_with_changes_off_is_the_original_and_a_b_change_what_the_paper_says() -> None:
    from timm.layers import SEModule

    from medzoo.zoo.architectures.layers.pool_shortcut import PoolShortcut
    from medzoo.zoo.architectures.models.xception_variants import POOLED_BLOCKS, XceptionFeatures

    torch.manual_seed(0)
    base = timm.create_model("legacy_xception", num_classes=0, global_pool="").eval()
    x = torch.randn(1, 3, 96, 96)
    plain = XceptionFeatures(copy.deepcopy(base)).eval()
    with torch.no_grad():
        assert torch.equal(plain.forward_features(x), base.forward_features(x))
        pooled = XceptionFeatures(copy.deepcopy(base), pool_shortcut=True).eval()
        assert pooled.forward_features(x).shape == base.forward_features(x).shape
        assert not torch.allclose(pooled.forward_features(x), base.forward_features(x))
    assert [
        n for n, m in pooled.named_children() if isinstance(getattr(m, "skip", None), PoolShortcut)
    ] == list(POOLED_BLOCKS)
    c = create_model("xception_c", num_classes=2)
    assert isinstance(c.backbone.se3, SEModule) and isinstance(c.backbone.se4, SEModule)
    assert isinstance(c.backbone.block12.skip, PoolShortcut) and not isinstance(
        c.backbone.block4.skip, PoolShortcut
    )


def test_aernet_without_cbam_is_resnet50() -> None:
    from medzoo.zoo.architectures.models.aernet import AERNetFeatures

    torch.manual_seed(0)
    base = timm.create_model("resnet50", num_classes=0, global_pool="").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(
            AERNetFeatures(copy.deepcopy(base), cbam=False).eval().forward_features(x),
            base.forward_features(x),
        )
    with_cbam = AERNetFeatures(copy.deepcopy(base))
    extra = set(with_cbam.state_dict()) - set(base.state_dict())
    assert extra and all(k.startswith(("cbam1.", "cbam2.", "cbam3.", "cbam4.")) for k in extra)


def test_efficientnet_dsp_switched_off_is_efficientnetv2_s_and_on_has_the_papers_modules() -> None:
    from medzoo.zoo.architectures.layers import DropBlock2d, DynamicReLU, ODConv2d, ShuffleAttentionResidual
    from medzoo.zoo.architectures.models.efficientnetv2_dsp import DY_MBCONV_BLOCKS, dsp_backbone

    torch.manual_seed(0)
    base = timm.create_model("tf_efficientnetv2_s", num_classes=0, global_pool="").eval()
    off, _ = dsp_backbone(pretrained=False, attention="se", dydropblock=False, odconv=False)
    off.load_state_dict(base.state_dict())  # same names: the switches add no parameters
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(off.eval().forward_features(x), base.forward_features(x), atol=1e-5)

    on, _ = dsp_backbone(pretrained=False)
    ir_blocks = [b for stage in on.blocks[3:] for b in stage]
    assert all(isinstance(b.se, ShuffleAttentionResidual) for b in ir_blocks)
    for stage, index in DY_MBCONV_BLOCKS:
        block = on.blocks[stage][index]
        assert isinstance(block.conv_dw, ODConv2d) and isinstance(block.bn2.act, DynamicReLU)
    rates = [d.p for d in on.drop_blocks]
    assert all(isinstance(d, DropBlock2d) for d in on.drop_blocks) and rates == sorted(rates)
    assert rates[-1] == pytest.approx(0.1)
    on.eval()
    with torch.no_grad():  # eval: DropBlock is the identity, so the output is deterministic
        assert torch.equal(on.forward_features(x), on.forward_features(x))


def test_pretrained_weights_load_from_a_copied_hub_cache_offline(_isolated_home: Path) -> None:
    """The error's advice works: a hub cache copied from a connected machine serves timm's HF path offline."""
    from safetensors.torch import save_file as save

    torch.manual_seed(0)
    reference = timm.create_model("test_efficientnet")  # what `huggingface-cli download` would have fetched
    repo = timm.models.get_pretrained_cfg("test_efficientnet").hf_hub_id
    commit = "0" * 40
    root = _isolated_home / "hf" / "hub" / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    (root / "snapshots" / commit).mkdir(parents=True)
    save(reference.state_dict(), str(root / "snapshots" / commit / "model.safetensors"))

    model = create_model("tiny_effnet", num_classes=3, pretrained=True)
    assert torch.equal(model.backbone.conv_stem.weight, reference.conv_stem.weight)
    assert torch.equal(model.backbone.blocks[3][0].conv_dw.weight, reference.blocks[3][0].conv_dw.weight)
    assert model.head.fc.out_features == 3
