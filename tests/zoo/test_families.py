"""The families contract: every registered family builds, trains a step, freezes, and exposes its CAM layer.

One parametrised test per family at a small input. All four output sizes (2, 3,
4 classes and 14-way multi-label) run for the families in ``ALL_COUNTS``; the
others take one size each, rotating through the four, and rotate through the
heads too, so every size and head meets big and small backbones (keeps the
suite within its CPU budget).
"""

from __future__ import annotations

import pytest
import timm
import torch
import torch.nn.functional as F

from medzoo.errors import ConfigError, DuplicateNameError, UnknownNameError
from medzoo.zoo import create_model, get_family, list_families
from medzoo.zoo.architectures.families import Family, register_family
from medzoo.zoo.architectures.heads import HEADS

PAPER_ARCHITECTURES = {
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnetv2_s",
    "vgg16",
    "resnet34",
    "resnet50",
    "resnetv2_152",
    "vit_base_patch16_224",
    "xception",
    "inception_v3",
    "densenet121",
    "mobilenetv2_100",
    "googlenet",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x0_5",
    "alexnet",
    "efficientnetv2_dsp",
    "xception_a",
    "xception_b",
    "xception_c",
    "aernet",
}
ALL_COUNTS = ("tiny_cnn", "tiny_effnet", "efficientnet_b0", "googlenet")
COUNTS = (2, 3, 4, 14)
FAMILIES = list_families()


def _cases() -> list[tuple[str, int, str]]:
    cases = []
    for i, name in enumerate(FAMILIES):
        counts = COUNTS if name in ALL_COUNTS else (COUNTS[i % 4],)
        for j, n in enumerate(counts):
            cases.append((name, n, HEADS[(i + j) % len(HEADS)]))
    return cases


def test_every_paper_architecture_is_registered() -> None:
    assert set(FAMILIES) >= PAPER_ARCHITECTURES
    assert {"tiny_cnn", "tiny_effnet"} <= set(FAMILIES)
    assert set(timm.list_models("medzoo_*")) == {
        f"medzoo_{name}" for name in FAMILIES
    }  # after `import medzoo`


def _input_size(name: str) -> int:
    return max(64, get_family(name).min_input_size + 5)


@pytest.mark.parametrize(("name", "num_classes", "head"), _cases())
def test_family_contract(name: str, num_classes: int, head: str) -> None:
    torch.manual_seed(0)
    family = get_family(name)
    size = _input_size(name)
    kw = {"img_size": size} if family.fixed_input_size else {}
    dropout = 0.0 if head == "linear" else 0.2
    model = create_model(name, num_classes=num_classes, head=head, dropout=dropout, freeze=2, **kw)

    # metadata travels with the model
    assert model.medzoo["family"] == name and model.medzoo["head"] == head
    assert model.pretrained_cfg["num_classes"] == num_classes
    assert tuple(model.pretrained_cfg["input_size"])[0] == 3
    for key in ("mean", "std", "interpolation", "crop_pct"):
        assert key in model.pretrained_cfg

    # one training step: finite logits of the right shape, frozen units untouched
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.train()
    x = torch.randn(2, 3, size, size)
    logits = model(x)
    assert logits.shape == (2, num_classes) and torch.isfinite(logits).all()
    if num_classes == 14:  # multi-label: one logit per label, the loss decides
        loss = F.binary_cross_entropy_with_logits(logits, torch.randint(0, 2, (2, 14)).float())
    else:
        loss = F.cross_entropy(logits, torch.tensor([0, num_classes - 1]))
    loss.backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in trainable if p.grad is not None)
    torch.optim.SGD(trainable, lr=0.5).step()
    after = model.state_dict()
    frozen_prefixes = tuple(p + "." for p in model.frozen_units)
    frozen_keys = [k for k in after if k.startswith(frozen_prefixes) or k in model.frozen_units]
    assert frozen_keys, f"freeze=2 froze nothing in {name}"
    for key in frozen_keys:  # weights and BN running statistics alike
        if after[key].is_floating_point():
            assert torch.equal(after[key], before[key]), key
    assert not torch.equal(after["head.fc.weight"], before["head.fc.weight"])
    assert any(p.requires_grad for p in model.backbone.parameters()), (
        "freeze=2 must leave later units trainable"
    )

    # the Grad-CAM layer exists and yields a spatial map (or tokens with a reshape rule)
    seen = []
    handle = model.get_submodule(family.cam_layer).register_forward_hook(lambda m, i, o: seen.append(o))
    model.eval()
    with torch.no_grad():
        model(x[:1])
    handle.remove()
    assert seen and (seen[-1].ndim == 4 or (seen[-1].ndim == 3 and family.cam_reshape == "vit"))


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("tiny_cnn", {"head": "mlp_bn", "hidden": (24, 12), "dropout": 0.1, "width": 8}),
        ("efficientnetv2_dsp", {"attention": "cbam", "odconv": False, "kernel_num": 2}),
        ("vit_base_patch16_224", {"img_size": 32, "head": "fc_relu_dropout"}),
        ("aernet", {"freeze": 3, "reduction": 8}),
    ],
)
def test_model_args_rebuild_the_same_module_through_timm(name: str, kw: dict) -> None:
    """``model.medzoo["model_args"]`` is all timm needs: same state-dict keys and shapes."""
    import json

    with torch.device("meta"):
        model = create_model(name, num_classes=5, **kw)
        args = json.loads(json.dumps(model.medzoo["model_args"]))  # as stored in a zoo entry's config.json
        rebuilt = timm.create_model(f"medzoo_{name}", num_classes=5, **args)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }
    assert rebuilt.medzoo == model.medzoo


def test_freeze_units_exist_and_cover_the_backbone_in_order() -> None:
    for name in ("tiny_effnet", "tiny_cnn"):
        family = get_family(name)
        model = create_model(name, num_classes=2, freeze=len(family.freeze_units))
        assert not any(p.requires_grad for p in model.backbone.parameters())
        assert all(p.requires_grad for p in model.head.parameters())
        model.train()
        assert all(not m.training for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ConfigError, match=r"0 <= freeze <= 3 must hold for family 'tiny_cnn' .*got freeze=9"):
        create_model("tiny_cnn", num_classes=2, freeze=9)
    with pytest.raises(ConfigError, match="does not take colour"):
        create_model("tiny_cnn", num_classes=2, colour=True)
    with pytest.raises(ConfigError, match="did you mean 'mlp_bn'"):
        create_model("tiny_cnn", num_classes=2, head="mlp_nb")
    with pytest.raises(ConfigError, match="head 'linear' has no dropout"):
        create_model("tiny_cnn", num_classes=2, head="linear", dropout=0.5)
    with pytest.raises(ConfigError, match=r"attention must be one of sar, se, eca, cbam, got attention='sk'"):
        create_model("efficientnetv2_dsp", num_classes=2, attention="sk")
    with pytest.raises(UnknownNameError, match="efficientnet_b0"):
        get_family("efficientnet-b0")


def test_duplicate_family_names_raise() -> None:
    family = get_family("tiny_cnn")
    with pytest.raises(DuplicateNameError, match="tiny_cnn"):
        register_family(Family(**{**family.__dict__}))


def test_heads_have_the_studies_shapes() -> None:
    def linears(model: torch.nn.Module) -> list[tuple[int, int]]:
        return [
            (m.in_features, m.out_features) for m in model.head.modules() if isinstance(m, torch.nn.Linear)
        ]

    assert linears(create_model("tiny_cnn", num_classes=2, head="fc_1024_128", dropout=0.5)) == [
        (64, 1024),
        (1024, 128),
        (128, 2),
    ]
    mammo = create_model("tiny_cnn", num_classes=1, head="mlp_bn", dropout=0.5)
    assert linears(mammo) == [(64, 512), (512, 256), (256, 1)]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in mammo.head.modules()) == 2
    assert linears(
        create_model("tiny_cnn", num_classes=4, head="fc_relu_dropout", hidden=32, dropout=0.3)
    ) == [(64, 32), (32, 4)]
    brain = create_model("tiny_cnn", num_classes=3, head="gap_dropout", dropout=0.3)
    assert [type(m).__name__ for m in brain.head.modules()][1:] == ["Dropout", "Linear"]


def test_paper_model_switches_reproduce_the_base_models() -> None:
    """Every ablation switch off gives the base architecture (same parameter shapes)."""

    def shapes(model: torch.nn.Module) -> dict:
        return {k: v.shape for k, v in model.state_dict().items()}

    with torch.device("meta"):
        dsp_off = create_model(
            "efficientnetv2_dsp", num_classes=4, attention="se", dydropblock=False, odconv=False
        )
        v2s = create_model("efficientnetv2_s", num_classes=4)
        aer_off = create_model("aernet", num_classes=4, cbam=False, head="linear")
        r50 = create_model("resnet50", num_classes=4)
    assert shapes(dsp_off) == shapes(v2s)
    assert shapes(aer_off) == shapes(r50)


@pytest.mark.parametrize(
    ("name", "kw", "paper_m", "rel"),
    [
        # the leukaemia study counts parameters with 1000-class ImageNet heads
        ("efficientnetv2_s", {"num_classes": 1000}, 21.45, 0.005),
        (
            "efficientnetv2_dsp",
            {"num_classes": 1000},
            17.63,
            0.06,
        ),  # SAR replaces SE (-3.8M); Dy-MBConv adds 0.6M
        ("shufflenet_v2_x0_5", {"num_classes": 1000}, 1.37, 0.005),
        ("resnet34", {"num_classes": 1000}, 21.79, 0.005),
        ("googlenet", {"num_classes": 1000}, 6.62, 0.005),
        ("alexnet", {"num_classes": 1000, "fc_layers": True}, 61.10, 0.005),
        # study 3: Xception-C with the mammography head at widths (1024, 1024) and one sigmoid output
        ("xception_c", {"num_classes": 1, "head": "mlp_bn", "hidden": (1024, 1024)}, 24.9, 0.01),
        # study 5: ResNet-50 with its 1000-class FC plus four CBAMs
        ("aernet", {"num_classes": 1000, "head": "linear"}, 26.2, 0.005),
    ],
)
def test_paper_models_match_the_reported_parameter_counts(
    name: str, kw: dict, paper_m: float, rel: float
) -> None:
    with torch.device("meta"):
        model = create_model(name, **kw)
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(paper_m, rel=rel)
