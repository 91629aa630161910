"""The five recipes validate; unknown keys and bad ranges are rejected with their names."""

from __future__ import annotations

from pathlib import Path

import pytest

from medzoo.errors import ConfigError, UnknownNameError
from medzoo.search.config import parse_sets
from medzoo.search.recipes import list_recipes, load_recipe, load_space

RECIPES = ["all-effnetv2-dsp", "brain-effnet", "cxr-aernet", "glioma-googlenet", "mammo-xception"]


def test_the_five_recipes_load_with_their_point_in_their_space() -> None:
    assert list_recipes() == RECIPES
    for rid in RECIPES:
        full, smoke = load_recipe(rid), load_recipe(rid, smoke=True)
        assert full.space and full.point.epochs >= smoke.point.epochs and full.point.image_size > 64
        assert smoke.point.family == "small_cnn" and smoke.point.image_size == 64
        assert smoke.limit == {"train": 480, "val": 320, "test": 320}
        # long enough to learn the phantoms, and an ASHA first rung (a third of it) past the flat start
        assert smoke.point.epochs >= 24 and smoke.point.early_stop_patience >= 6
        assert set(smoke.space["family"].values) == {"small_cnn", "tiny_effnet", "tiny_resnet"}
        for name, param in full.space.items():
            assert param.contains(getattr(full.point, name)), (rid, name)


def test_a_smoke_sweep_seeds_each_family_once_at_the_studys_point() -> None:
    for rid in RECIPES:
        smoke = load_recipe(rid, smoke=True)
        points = smoke.points_to_evaluate()
        assert [p["family"] for p in points] == ["small_cnn", "tiny_effnet", "tiny_resnet"]
        assert all(
            {k: v for k, v in p.items() if k != "family"}
            == {k: v for k, v in points[0].items() if k != "family"}
            for p in points
        )
        assert len(load_recipe(rid).points_to_evaluate()) == 1  # full scale: the study's point only


def test_every_family_a_recipe_names_is_registered() -> None:
    from medzoo import zoo

    known = set(zoo.list_families())
    for rid in RECIPES:
        r = load_recipe(rid)
        names = {
            r.point.family,
            *r.space["family"].values,
            *load_recipe(rid, smoke=True).space["family"].values,
        }
        assert names <= known, (rid, sorted(names - known))


def test_study_points_follow_papers() -> None:
    brain = load_recipe("brain-effnet").point
    assert (brain.optimizer, brain.lr, brain.batch_size, brain.epochs) == ("adam", 1e-3, 32, 30)
    assert (brain.schedule, brain.plateau_factor, brain.early_stop_patience) == ("plateau", 0.3, 5)
    cxr = load_recipe("cxr-aernet").point
    assert (cxr.label_smoothing, cxr.weight_decay, cxr.schedule, cxr.early_stop_metric) == (
        0.1,
        1e-4,
        "cosine",
        "val_loss",
    )
    glioma = load_recipe("glioma-googlenet").point
    assert glioma.lr * glioma.head_lr_mult == pytest.approx(1e-3) and glioma.batch_size == 128
    assert load_recipe("all-effnetv2-dsp").point.loss == "polyfocal"
    assert load_recipe("mammo-xception").point.loss == "bce"


def test_unknown_key_names_the_key_the_file_and_the_allowed_keys(tmp_path: Path) -> None:
    f = tmp_path / "mine.yaml"
    f.write_text("base: brain-effnet\npoint:\n  lerning_rate: 0.1\n")
    with pytest.raises(ConfigError) as err:
        load_space(f)
    msg = str(err.value)
    assert "'lerning_rate'" in msg and "mine.yaml" in msg and "allowed keys:" in msg and "batch_size" in msg
    f.write_text("space:\n  lr: {type: loguniform, low: 1.0e-3, high: 1.0e-4}\npoint: {lr: 1.0e-3}\n")
    with pytest.raises(ConfigError, match=r"low <= high must hold, got low=0.001, high=0.0001"):
        load_space(f)
    f.write_text("space:\n  lr: {type: loguniform, low: 1.0e-3, high: 1.0e-2, step: 2}\n")
    with pytest.raises(ConfigError, match="'step'"):
        load_space(f)
    f.write_text("smoke: {epochs: 1}\n")
    with pytest.raises(ConfigError, match="'epochs'.*smoke"):
        load_space(f)


def test_user_space_inherits_a_recipe_and_rejects_a_point_outside_it(tmp_path: Path) -> None:
    f = tmp_path / "space.yaml"
    f.write_text("base: brain-effnet\nspace:\n  lr: {type: loguniform, low: 1.0e-4, high: 1.0e-2}\n")
    r = load_space(f)
    assert list(r.space) == ["lr"] and r.point.family == "efficientnet_b2" and r.dataset == "figshare-brain"
    f.write_text("base: brain-effnet\nspace:\n  lr: {type: loguniform, low: 1.0e-2, high: 1.0e-1}\n")
    with pytest.raises(ConfigError, match="point's lr=0.001 must lie in its space"):
        load_space(f)


def test_set_overrides_are_parsed_and_checked() -> None:
    assert parse_sets(["lr=3e-4", "family=tiny_cnn", "hidden=[64, 32]"]) == {
        "lr": "3e-4",
        "family": "tiny_cnn",
        "hidden": [64, 32],
    }
    with pytest.raises(ConfigError, match="'weight_decy'.*did you mean weight_decay"):
        parse_sets(["weight_decy=1"])
    with pytest.raises(UnknownNameError, match="brain-efnet.*brain-effnet"):
        load_recipe("brain-efnet")
    r = load_recipe("brain-effnet").point
    assert r.replace(lr="3e-4").lr == pytest.approx(3e-4)
    with pytest.raises(ConfigError, match="optimizer must be one of"):
        r.replace(optimizer="rmsprop")


def test_sweep_cli_and_run_reject_bad_arguments_before_starting_ray(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from medzoo.cli import search
    from medzoo.search import run

    app = typer.Typer()
    search.register(app)
    runner = CliRunner()
    both = runner.invoke(app, ["sweep", str(tmp_path), "--recipe", "brain-effnet", "--space", "x.yaml"])
    assert both.exit_code != 0 and "exactly one of --recipe ID or --space" in str(both.exception)
    resume = runner.invoke(app, ["sweep", str(tmp_path), "--resume"])
    assert "--resume needs --out" in str(resume.exception)
    with pytest.raises(
        ConfigError, match="scheduler must be one of asha, pbt, fifo, got scheduler='hyperband'"
    ):
        run(prepared=tmp_path, out=tmp_path / "r", recipe="brain-effnet", scheduler="hyperband")
    with pytest.raises(ConfigError, match="objectives must be val_metric or val_metric,gmacs"):
        run(prepared=tmp_path, out=tmp_path / "r", recipe="brain-effnet", objectives=("gmacs",))
    with pytest.raises(ConfigError, match="pbt .* cannot follow an Optuna searcher"):
        run(prepared=tmp_path, out=tmp_path / "r", recipe="brain-effnet", scheduler="pbt", search="optuna")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("rid", RECIPES)
def test_each_recipe_point_builds_its_model(rid: str) -> None:
    """The study's point and the smoke point are buildable configurations (no pretrained download)."""
    import torch

    from medzoo import datasets
    from medzoo.search.trial import build_model

    recipe = load_recipe(rid)
    classes = datasets.get(recipe.dataset).num_classes
    for point in (recipe.point.replace(pretrained=False), load_recipe(rid, smoke=True).point):
        model = build_model(point, num_classes=classes).eval()
        size = point.image_size or 224
        if point.family.startswith("tiny"):
            with torch.no_grad():
                assert model(torch.zeros(1, 3, size, size)).shape == (1, classes)


def test_every_point_of_every_space_fits_its_families() -> None:
    """Heads, frozen depth and input sizes a space can sample are ones every family in it accepts."""
    from medzoo import zoo

    for rid in RECIPES:
        for recipe in (load_recipe(rid), load_recipe(rid, smoke=True)):
            space, point = recipe.space, recipe.point
            freeze_max = space["freeze"].high if "freeze" in space else point.freeze
            sizes = space["image_size"].values if "image_size" in space else (point.image_size,)
            for name in space["family"].values:
                fam = zoo.get_family(name)
                assert point.head is None or point.head in fam.heads, (rid, name, point.head)
                assert freeze_max < len(fam.freeze_units), (
                    rid,
                    name,
                    freeze_max,
                )  # something stays trainable
                assert min(sizes) >= fam.min_input_size, (rid, name, sizes)
