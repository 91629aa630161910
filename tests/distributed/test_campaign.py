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
from medzoo.search.campaign import STATE_FILE, SweepPlan, load_campaign, parse_campaign, run_campaign
from medzoo.search.progress import format_line, summarize_trials


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


class _Trial:
    """What the progress callback reads of a Tune trial: id, status, config, last result."""

    def __init__(self, trial_id: str, status: str, family: str, **result: object) -> None:
        self.trial_id, self.status, self.config, self.last_result = (
            trial_id,
            status,
            {"family": family},
            result,
        )


def test_progress_counts_trials_by_what_happened_to_them_and_names_the_best() -> None:
    trials = [
        _Trial("a", "TERMINATED", "small_cnn", val_metric=0.61, epochs=30, complete=True),
        _Trial("b", "TERMINATED", "tiny_effnet", val_metric=0.42, epochs=10, complete=False),  # cut by ASHA
        _Trial("c", "RUNNING", "tiny_resnet", val_metric=0.74, epochs=12, complete=False),
        _Trial("d", "PENDING", "small_cnn"),
        _Trial("e", "ERROR", "small_cnn"),
    ]
    p = summarize_trials(trials, samples=10, metric="accuracy", elapsed_s=60, budget_s=300, done=False)
    assert (p.pending, p.running, p.finished, p.stopped, p.errored) == (1, 1, 1, 1, 1)
    assert (p.best, p.best_trial, p.best_family, p.best_epochs) == (0.74, "c", "tiny_resnet", 12)
    line = format_line("figshare-brain", p)
    assert line.split() == [
        "figshare-brain",
        "1",
        "running,",
        "1",
        "finished,",
        "1",
        "stopped,",
        "1",
        "failed",
        "of",
        "10;",
        "best",
        "val",
        "accuracy",
        "0.740",
        "(tiny_resnet,",
        "12",
        "ep);",
        "240",
        "s",
        "left",
    ]
    assert format_line("x", p, done=True).endswith("; done")
    assert "no epoch yet" in format_line(
        "x", summarize_trials([], samples=2, metric="auc", elapsed_s=1, budget_s=None, done=False)
    )


def test_progress_is_read_through_storage_and_a_bad_file_reads_as_none(tmp_path: Path) -> None:
    from medzoo.search.progress import SweepProgress, read_progress

    run = tmp_path / "run"
    assert read_progress(run) is None
    run.mkdir()
    SweepProgress(samples=4, running=1, best=0.5, metric="auc").write(run)
    assert read_progress(str(run)).best == 0.5
    (run / "progress.json").write_text('{"samples": 4, "runn')  # being replaced, or hostile
    assert read_progress(run) is None


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
    assert any("figshare-brain " in ln and "best val accuracy" in ln for ln in lines), lines
    counts = [re.search(r"(\d+) running, (\d+) finished, (\d+) stopped of (\d+)", ln) for ln in lines]
    assert all(sum(map(int, m.groups()[:3])) <= int(m[4]) for m in counts if m), (
        "a sweep saw another's trials"
    )
    assert any(m and m[2] == "1" for m in counts), lines  # each sweep's one trial is seen finished
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
