"""``medzoo zoo families``: every family listed with params; GMACs measured on demand and cached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medzoo.cli import app
from medzoo.zoo.architectures.family_table import family_rows


def test_families_command_lists_families_with_params() -> None:
    result = CliRunner().invoke(
        app, ["zoo", "families", "resnet50", "aernet", "vit_base_patch16_224", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert set(rows) == {"resnet50", "aernet", "vit_base_patch16_224"}
    mlp_bn = 2048 * 512 + 512 + 2 * 512 + 512 * 256 + 256 + 2 * 256 + 256 * 2 + 2  # mammo head, 2 classes
    assert rows["resnet50"]["params_m"] == pytest.approx((23_508_032 + mlp_bn) / 1e6)
    assert rows["aernet"]["head"] == "fc_relu_dropout" and rows["aernet"]["num_classes"] == 14
    assert rows["vit_base_patch16_224"]["cam_layer"] == "backbone.blocks.11.norm1"

    table = CliRunner().invoke(app, ["zoo", "families", "tiny_cnn", "aernet"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "cbam4" in table.output and "--gmacs" in table.output
    unknown = CliRunner().invoke(app, ["zoo", "families", "aernett"])
    assert unknown.exit_code != 0 and "did you mean aernet" in str(unknown.exception or unknown.output)


def test_gmacs_are_measured_once_then_read_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache" / "family_complexity.json"
    rows = family_rows(cache=cache, gmacs=True, names=["tiny_cnn", "tiny_effnet"])
    assert all(r["gmacs"] > 0 for r in rows) and cache.is_file()
    assert (
        family_rows(cache=cache, names=["tiny_cnn", "resnet50"])[1]["gmacs"] is None
    )  # not measured, not invented

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("GMACs recomputed although cached")

    monkeypatch.setattr("medzoo.zoo.architectures.complexity.count_macs", fail)
    monkeypatch.setattr("medzoo.zoo.architectures.families.create_model", fail)
    again = family_rows(cache=cache, gmacs=True, names=["tiny_cnn", "tiny_effnet"])
    assert [r["gmacs"] for r in again] == [r["gmacs"] for r in rows]
