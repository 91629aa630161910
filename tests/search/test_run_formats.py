"""The run folder's typed files (medzoo.formats.run): round trips, schema violations, checked readers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from medzoo.errors import FormatError
from medzoo.formats.run import (
    BestTrial,
    ParetoFront,
    RunInfo,
    TrialRecord,
    VoteResult,
    read_results,
)
from medzoo.search.config import FIELDS

TRIAL = {
    **{name: f.default for name, f in FIELDS.items()},
    "family": "tiny_cnn",
    "image_size": 32,
    "hidden": [8],
    "dataset": "figshare-brain",
    "task": "multiclass",
    "classes": ["glioma", "meningioma", "pituitary"],
    "num_classes": 3,
    "primary_metric": "accuracy",
    "model_args": {"head": "linear", "dropout": 0.0, "freeze": 0},
    "cam_layer": "features",
    "mean": [0.5, 0.5, 0.5],
    "std": [0.25, 0.25, 0.25],
    "pretrained_cfg": {"input_size": [3, 32, 32]},
    "resumed_at_epochs": [1],
}

INTERVAL = {"value": 0.9, "ci_low": 0.8, "ci_high": 0.95}


def test_every_trial_config_field_is_in_the_trial_record() -> None:
    record_fields = {f.name for f in dataclasses.fields(TrialRecord)}
    assert set(FIELDS) <= record_fields
    record = TrialRecord.from_dict(TRIAL)
    assert set(record.config()) == set(FIELDS)


def test_records_round_trip(tmp_path: Path, run_json: dict) -> None:
    info = RunInfo.from_dict(run_json)
    info.write(tmp_path)
    assert json.loads((tmp_path / "run.json").read_text())["format_version"] == 1
    assert RunInfo.read(tmp_path) == info and info.budget.limit == {"train": 48}
    trial = TrialRecord.from_dict(TRIAL)
    trial.write(tmp_path / "trials" / "t1")
    back = TrialRecord.read(tmp_path / "trials" / "t1" / "trial.json")
    assert back == trial and back.hidden == (8,)
    assert back.model_kwargs() == {"num_classes": 3, "head": "linear", "dropout": 0.0, "freeze": 0}
    best = BestTrial.from_dict(
        {"trial_id": "t1", "config": TRIAL, "val": {"val_metric": 0.9}, "test": {"accuracy": INTERVAL}}
    )
    best.write(tmp_path)
    assert BestTrial.read(tmp_path).test["accuracy"].ci_low == 0.8
    front = {
        "objectives": ["val_metric", "gmacs"],
        "front": [{"trial_id": "t1", "val_metric": 0.9, "gmacs": 0.1}],
    }
    ParetoFront.from_dict(front).write(tmp_path)
    assert ParetoFront.read(tmp_path).front[0].trial_id == "t1"
    vote = {
        "primary_metric": "auc",
        "vote": "majority over sequences",
        "sequences": {"t1": "a", "flair": "b"},
        "n": 10,
        "metrics": {"auc": INTERVAL, "ece": {"value": None, "ci_low": None, "ci_high": None}},
        "patient_level": {"n": 3, "metrics": {"auc": INTERVAL}},
    }
    VoteResult.from_dict(vote).write(tmp_path)
    assert VoteResult.read(tmp_path).patient_level.n == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"samples": "4"}, "'samples' must be an integer"),
        ({"scheduler": "hyperband"}, "'scheduler' must be one of"),
        ({"surprise": 1}, "unknown field"),
        ({"recipe": None}, "exactly one of recipe and space_file"),
        ({"budget": {"samples": 4}}, "'budget.epochs' is missing"),
    ],
)
def test_run_json_violations_name_the_file_and_field(
    tmp_path: Path, run_json: dict, change: dict, message: str
) -> None:
    (tmp_path / "run.json").write_text(json.dumps({**run_json, **change}))
    with pytest.raises(FormatError, match=message) as err:
        RunInfo.read(tmp_path)
    assert "run.json" in err.value.message


def test_broken_json_files_are_one_clear_error(tmp_path: Path, run_json: dict) -> None:
    (tmp_path / "run.json").write_text(json.dumps(run_json)[:-20])
    with pytest.raises(FormatError, match="not valid JSON.*truncated"):
        RunInfo.read(tmp_path)
    (tmp_path / "run.json").write_bytes(b'{"dataset": "\xff\xfe"}')
    with pytest.raises(FormatError, match="run.json"):
        RunInfo.read(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({**run_json, "format_version": 99}))
    with pytest.raises(FormatError, match="format_version 99") as err:
        RunInfo.read(tmp_path)
    assert "upgrade medzoo" in (err.value.fix or "")
    trial = tmp_path / "trial.json"
    trial.write_text(json.dumps({**TRIAL, "num_classes": 4}))
    with pytest.raises(FormatError, match="num_classes"):
        TrialRecord.read(trial)
    trial.write_text(json.dumps({k: v for k, v in TRIAL.items() if k != "family"}))
    with pytest.raises(FormatError, match="'family' is missing"):
        TrialRecord.read(trial)
    trial.write_text(json.dumps({**TRIAL, "model_args": {"pretrained": True}}))
    with pytest.raises(FormatError, match="model_args must not carry"):
        TrialRecord.read(trial)


def test_results_parquet_reader_checks_the_table(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"trial_id": ["a", "b"], "status": ["TERMINATED", "ERROR"], "val_metric": [0.5, None]}
    )
    frame.to_parquet(tmp_path / "results.parquet", index=False)
    back = read_results(tmp_path)
    assert list(back["trial_id"]) == ["a", "b"] and back["val_metric"].isna().tolist() == [False, True]
    data = (tmp_path / "results.parquet").read_bytes()
    (tmp_path / "results.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match=r"results\.parquet is not a readable Parquet table") as err:
        read_results(tmp_path / "results.parquet")
    assert err.value.fix
    (tmp_path / "results.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(FormatError, match="results.parquet"):
        read_results(tmp_path)
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "results.parquet")
    with pytest.raises(FormatError, match=r"columns \['trial_id', 'status'\] are missing"):
        read_results(tmp_path)
    (tmp_path / "results.parquet").unlink()
    with pytest.raises(FormatError, match="missing"):
        read_results(tmp_path)
