"""Campaigns: a typed file of sweeps, run at once on one Ray, published, resumable as a whole."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from distparts import tiny_space

from medzoo.errors import ConfigError
from medzoo.search.campaign import (
    STATE_FILE,
    SweepPlan,
    SweepProgress,
    format_progress,
    load_campaign,
    parse_campaign,
    run_campaign,
    sweep_progress,
)


def _sweep(**extra: object) -> dict[str, object]:
    return {"name": "brain", "recipe": "brain-effnet", "prepared": "/data/figshare", **extra}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"sweeps": []}, "'sweeps' must be a non-empty list"),
        ({"sweep": [_sweep()]}, "a campaign is a mapping with one key 'sweeps'"),
        ({"sweeps": [_sweep(gpus=1)]}, r"sweeps\[0\]: unknown key\(s\) gpus"),
        ({"sweeps": [_sweep(samples=0)]}, r"sweeps\[0\].samples must be an integer >= 1, got 0"),
        ({"sweeps": [_sweep(samples="8")]}, r"sweeps\[0\].samples must be an integer >= 1, got '8'"),
        ({"sweeps": [_sweep(cpus_per_trial=0)]}, r"cpus_per_trial must be a number > 0"),
        ({"sweeps": [_sweep(smoke="yes")]}, r"smoke must be true or false"),
        ({"sweeps": [_sweep(name="../x")]}, r"must be a plain folder name"),
        ({"sweeps": [{"name": "a", "recipe": "brain-effnet"}]}, r"missing key\(s\) prepared"),
        ({"sweeps": [_sweep(), _sweep()]}, "sweep names must be unique; brain repeat"),
        ({"sweeps": [_sweep(space="s.yaml")]}, r"exactly one of recipe \(a recipe id\) or space"),
        ({"sweeps": [_sweep(recipe="brain-efnet")]}, r"sweeps\[0\].recipe: .*brain-effnet"),
    ],
)
def test_a_bad_campaign_file_is_refused_naming_the_sweep_and_key(doc: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_campaign(doc, source="c.yaml")


def test_a_campaign_file_resolves_relative_prepared_paths_from_its_folder(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "sweeps:\n"
        "  - {name: brain, recipe: brain-effnet, prepared: data/fig, samples: 4, gpus_per_trial: 0.5}\n"
        "  - {name: cxr, recipe: cxr-aernet, prepared: 's3://bucket/datasets/cxr', time_budget_s: 60}\n"
    )
    spec = load_campaign(tmp_path / "c.yaml")
    assert spec.sweeps[0] == SweepPlan(
        name="brain",
        recipe="brain-effnet",
        prepared=str(tmp_path / "data" / "fig"),
        samples=4,
        gpus_per_trial=0.5,
    )
    assert spec.sweeps[1].prepared == "s3://bucket/datasets/cxr" and spec.sweeps[1].time_budget_s == 60


def test_progress_is_read_from_tunes_json_lines(tmp_path: Path) -> None:
    trial = tmp_path / "run" / "tune" / "abc_00001"
    trial.mkdir(parents=True)
    lines = [{"val_metric": 0.5, "done": False}, {"val_metric": 0.75, "done": True}]
    (trial / "result.json").write_text("\n".join(json.dumps(x) for x in lines) + '\n{"val_me')
    (tmp_path / "run" / "tune" / "abc_00002").mkdir()  # started, no epoch yet: not counted
    plan = SweepPlan(name="brain", recipe="brain-effnet", prepared="x", samples=4, time_budget_s=100)
    p = sweep_progress(plan, run_dir=tmp_path / "run", done=False)
    assert p == SweepProgress(
        name="brain", started=1, finished=1, best=0.75, best_trial="abc_00001", done=False
    )
    line = format_progress(p, plan=plan, elapsed_s=40)
    assert "trials 1/4 started, 1 ended; best val 0.750 (abc_00001); 60 s left" in line


@pytest.mark.slow
@pytest.mark.ray
def test_two_sweeps_run_at_once_publish_and_resume_as_a_whole(
    prepared_phantom: Callable[[str], Path], tmp_path: Path
) -> None:
    space = str(tiny_space(tmp_path))
    doc = {
        "sweeps": [
            {
                "name": ds,
                "space": space,
                "prepared": str(prepared_phantom("figshare-brain")),
                "samples": 1,
                "smoke": True,
            }
            for ds in ("figshare-brain", "figshare-brain-2")
        ]
    }
    spec = parse_campaign(doc, source="test")
    lines: list[str] = []
    started = time.monotonic()
    result = run_campaign(
        spec,
        out=tmp_path / "c",
        zoo=tmp_path / "zoo",
        site=tmp_path / "site",
        log=lines.append,
        progress_every_s=2,
    )
    wall = time.monotonic() - started
    stages = json.loads((tmp_path / "c" / STATE_FILE).read_text())["stages"]
    sweeps = {k: v for k, v in stages.items() if k.endswith("/sweep")}
    assert set(sweeps) == {"figshare-brain/sweep", "figshare-brain-2/sweep"}
    assert max(v["began"] for v in sweeps.values()) < min(v["ended"] for v in sweeps.values())  # at once
    assert wall < sum(v["seconds"] for v in sweeps.values()) + 120
    assert [s.name for s in result.sweeps] == ["figshare-brain", "figshare-brain-2"]
    assert all(s.entries for s in result.sweeps)
    assert (tmp_path / "site" / "index.html").is_file()
    assert any("figshare-brain" in ln and "best val" in ln for ln in lines)
    started = [re.search(r"trials (\d+)/(\d+) started", ln) for ln in lines]
    assert all(int(m[1]) <= int(m[2]) for m in started if m), "a sweep saw another sweep's trials"
    assert "figshare-brain" in (tmp_path / "c" / "logs" / "figshare-brain.log").read_text()  # Tune's tables
    again: list[str] = []
    run_campaign(spec, out=tmp_path / "c", zoo=tmp_path / "zoo", site=tmp_path / "site", log=again.append)
    for key in stages:
        assert f"  skip {key}: done before" in again


def test_an_unreadable_campaign_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("sweeps: [unclosed\n")
    with pytest.raises(ConfigError, match=r"c.yaml is not valid YAML"):
        load_campaign(tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="cannot read campaign file .*missing.yaml"):
        load_campaign(tmp_path / "missing.yaml")


def test_the_campaign_command_runs_the_file_it_is_given(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from medzoo.cli import campaign

    app = typer.Typer()
    campaign.register(app)
    app.command("other")(lambda: None)  # two commands: typer keeps the sub-command name
    (tmp_path / "c.yaml").write_text("sweeps:\n  - {name: a, recipe: brain-efnet, prepared: x}\n")
    result = CliRunner().invoke(app, ["campaign", str(tmp_path / "c.yaml")])
    assert isinstance(result.exception, ConfigError) and "brain-effnet" in str(result.exception)


@pytest.mark.slow
@pytest.mark.ray
def test_a_campaign_with_storage_keeps_its_runs_and_data_there(
    prepared_phantom: Callable[[str], Path], tmp_path: Path
) -> None:
    doc = {
        "sweeps": [
            {
                "name": "brain",
                "space": str(tiny_space(tmp_path)),
                "prepared": str(prepared_phantom("figshare-brain")),
                "samples": 1,
                "smoke": True,
            }
        ]
    }
    storage = tmp_path / "storage"  # a folder every node mounts
    result = run_campaign(
        parse_campaign(doc, source="test"),
        out=tmp_path / "c",
        zoo=storage / "zoo",
        storage=str(storage),
        log=lambda line: None,
    )
    assert result.sweeps[0].run == str(storage / "runs" / "brain") and result.sweeps[0].entries
    assert (storage / "runs" / "brain" / "best.json").is_file()
    assert [p.name.split("-")[0] for p in (storage / "datasets").iterdir()] == ["figshare"]
