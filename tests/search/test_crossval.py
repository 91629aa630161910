"""`medzoo crossval`: folds by patient and by image over train+val, the record, the leak, bad input."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from medzoo.cli import main
from medzoo.errors import ConfigError, DatasetError
from medzoo.formats.run import CrossvalResult, RunInfo
from medzoo.search import crossval as cv

#: one 1-epoch trial at 32 px: the run exists only to be cross-validated
CONFIG = {
    "family": "tiny_cnn",
    "image_size": 32,
    "epochs": 1,
    "lr": 3e-3,
    "batch_size": 16,
    "augment": "none",
}


@pytest.fixture(scope="module")
def cv_run(request, tmp_path_factory, prepared_phantom) -> Path:
    """A finished run on the figshare-brain phantom (its prepared set carries the official 4 folds)."""
    import torch

    # the suite's run builder (tests/conftest.py), taken from the loaded conftest plugin
    plugins = request.config.pluginmanager.get_plugins()
    build_tiny_run = next(p.build_tiny_run for p in plugins if hasattr(p, "build_tiny_run"))
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("cv-run") / "run"
    return build_tiny_run(
        prepared_phantom("figshare-brain"), out, configs=({**CONFIG, "seed": 0},), test_top_k=1
    )


@pytest.fixture()
def run_copy(cv_run, tmp_path) -> Path:
    dest = tmp_path / "run"
    shutil.copytree(cv_run, dest)
    (dest / "crossval.json").unlink(missing_ok=True)
    return dest


def _pool(cv_run: Path):
    return cv.pool_manifest(Path(RunInfo.read(cv_run).prepared))


def _check_partition(plans, n: int) -> None:
    held = np.concatenate([p.test_rows for p in plans])
    assert sorted(held.tolist()) == list(range(n))  # disjoint and covering the pool
    for p in plans:
        assert set(p.train_rows).isdisjoint(p.test_rows) and len(p.train_rows) + len(p.test_rows) == n


def test_the_pool_is_train_and_val_only(cv_run):
    from medzoo import datasets

    manifest = datasets.read_manifest(Path(RunInfo.read(cv_run).prepared))
    pool = _pool(cv_run)
    assert len(pool) == int((manifest["split"] != "test").sum())
    assert set(pool["path"]).isdisjoint(manifest.loc[manifest["split"] == "test", "path"])


def test_patient_folds_share_no_patient_and_image_folds_do(cv_run):
    pool = _pool(cv_run)
    patients = pool["patient_id"].to_numpy()
    k = cv.resolve_folds(pool, None)
    assert k == 4  # figshare's official folds 1-4 (cvind 5 is the test set)
    official = cv.plan_folds(pool, protocol="patient", k=k, seed=0)
    _check_partition(official, len(pool))
    for p in official:  # the official folds, used as they are
        assert set(pool["fold"].iloc[list(p.test_rows)]) == {p.fold}
        assert p.shared_patients == 0
        assert set(patients[list(p.test_rows)]).isdisjoint(patients[list(p.train_rows)])
    image = cv.plan_folds(pool, protocol="image", k=k, seed=0)
    _check_partition(image, len(pool))
    assert sum(p.shared_patients for p in image) > 0  # several images per patient: the leak
    labels = pool["label"].to_numpy()
    counts = np.array([np.bincount(labels[list(p.test_rows)], minlength=3) for p in image])
    assert (counts.max(axis=0) - counts.min(axis=0) <= 1).all()  # stratified by class


def test_grouped_patient_folds_without_the_sets_own_folds(cv_run):
    pool = _pool(cv_run).assign(fold=-1)
    assert cv.resolve_folds(pool, None) == cv.DEFAULT_FOLDS
    plans = cv.plan_folds(pool, protocol="patient", k=3, seed=7)
    _check_partition(plans, len(pool))
    patients = pool["patient_id"].to_numpy()
    for p in plans:
        assert p.shared_patients == 0 and p.test_rows
        assert set(patients[list(p.test_rows)]).isdisjoint(patients[list(p.train_rows)])
    assert plans == cv.plan_folds(pool, protocol="patient", k=3, seed=7)  # seeded, reproducible
    assert plans != cv.plan_folds(pool, protocol="patient", k=3, seed=8)
    with pytest.raises(ConfigError, match="need at least 30 patients"):
        cv.resolve_folds(pool, 30)  # 24 patients in the phantom, fewer in its pool
    # a set's own folds that split a patient (prepared --split image --folds K) are no patient folds
    by_image = pool.assign(fold=np.arange(len(pool)) % 3)
    assert cv.resolve_folds(by_image, 3) == 3
    for p in cv.plan_folds(by_image, protocol="patient", k=3, seed=0):
        assert p.shared_patients == 0


def test_crossval_both_protocols_writes_the_record(cv_run, run_copy):
    result = cv.crossval(run=run_copy, protocols=("patient", "image"), executor="local", epochs=1, seed=3)
    assert CrossvalResult.read(run_copy) == result  # written atomically, round-trips
    assert result.trial_id == "t0000" and result.metric == "accuracy" and result.k == 4 and result.seed == 3
    pool = _pool(cv_run)
    by = {p.protocol: p for p in result.protocols}
    assert list(by) == ["patient", "image"]
    for p in result.protocols:
        assert [f.fold for f in p.folds] == [0, 1, 2, 3]
        assert sum(f.n_test for f in p.folds) == len(pool)
        values = [f.value for f in p.folds]
        assert all(0.0 <= v <= 1.0 for v in values) and all(f.epochs == 1 for f in p.folds)
        assert p.mean == pytest.approx(np.mean(values)) and p.sd == pytest.approx(np.std(values, ddof=1))
    assert sum(f.n_patients for f in by["patient"].folds) == pool["patient_id"].nunique()
    assert sum(f.n_patients for f in by["image"].folds) > pool["patient_id"].nunique()
    leak = result.leak
    assert leak is not None and leak.metric == "accuracy"
    assert leak.difference == pytest.approx(by["image"].mean - by["patient"].mean)
    assert leak.ci_low <= leak.difference <= leak.ci_high
    # one protocol: no leak
    only = cv.crossval(run=run_copy, protocols=("image",), executor="local", epochs=1, seed=3)
    assert only.leak is None and only.protocols == (by["image"],)  # deterministic per fold


def test_fold_view_rows_are_the_pool_rows(cv_run):
    from medzoo.search.config import from_dict
    from medzoo.search.trial import open_split

    prepared = Path(RunInfo.read(cv_run).prepared)
    cfg = from_dict(dict(CONFIG), where="test")
    parts = [
        open_split(prepared, s, cfg, image_size=32, mean=(0.5,) * 3, std=(0.5,) * 3) for s in ("train", "val")
    ]
    pool = _pool(cv_run)
    rows = (0, 3, len(pool) - 1)
    view = cv.FoldView(parts, rows)
    assert len(view) == 3 and view.classes == parts[0].classes
    assert view.targets.tolist() == pool["label"].iloc[list(rows)].tolist()
    assert view.patient_ids.tolist() == pool["patient_id"].iloc[list(rows)].tolist()
    assert [view[i]["index"] for i in range(3)] == list(rows)
    assert [int(view[i]["target"]) for i in range(3)] == view.targets.tolist()
    with pytest.raises(IndexError):
        view[3]


def test_leak_interval_and_sets_without_patient_ids():
    gap = cv.leak_gap([0.5, 0.6, 0.55], [0.8, 0.85, 0.9], metric="accuracy", seed=0)
    assert gap.difference == pytest.approx(0.3) and 0.2 < gap.ci_low < 0.3 < gap.ci_high < 0.4
    assert gap == cv.leak_gap([0.5, 0.6, 0.55], [0.8, 0.85, 0.9], metric="accuracy", seed=0)
    assert cv.leak_gap([None], [0.8], metric="auc", seed=0).difference is None
    assert cv.mean_sd([0.5, None]) == (0.5, None)
    with pytest.raises(DatasetError, match="no patient ids"):
        cv._require_patient_ids("all-leukemia")


def _cli(argv, capsys) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _one_error(code: int, err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and "Traceback" not in err
    assert [line.split(":")[0] for line in lines] == ["error", "fix"], err
    for needle in needles:
        assert needle in lines[0], err


def test_cli_prints_the_folds(run_copy, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = _cli(
        ["crossval", str(run_copy), "--protocol", "both", "--epochs", "1", "--local"], capsys
    )
    assert code == 0, err
    result = CrossvalResult.read(run_copy)
    assert "patient  accuracy" in out and "image    accuracy" in out and "leak (image - patient)" in out
    assert f"{result.leak.difference:+.3f}" in out


def test_cli_bad_input_is_one_error_line(run_copy, tmp_path, capsys):
    code, _, err = _cli(["crossval", str(tmp_path / "nowhere"), "--local"], capsys)
    _one_error(code, err, "no run.json")
    code, _, err = _cli(["crossval", str(run_copy), "--folds", "3", "--local"], capsys)
    _one_error(code, err, "own 4 patient-level folds", "--folds 3")
    code, _, err = _cli(["crossval", str(run_copy), "--protocol", "paper", "--local"], capsys)
    _one_error(code, err, "--protocol")
    (run_copy / "best.json").unlink()
    code, _, err = _cli(["crossval", str(run_copy), "--local"], capsys)
    _one_error(code, err, "no best.json")
    info = RunInfo.read(run_copy)
    dataclasses.replace(info, finished=None).write(run_copy)
    code, _, err = _cli(["crossval", str(run_copy), "--local"], capsys)
    _one_error(code, err, "has not finished")
    assert not (run_copy / "crossval.json").exists()


@pytest.mark.ray
@pytest.mark.slow
def test_ray_tasks_give_the_in_process_result(run_copy, ray_cluster):
    local = cv.crossval(run=run_copy, protocols=("patient",), executor="local", epochs=1)
    remote = cv.crossval(run=run_copy, protocols=("patient",), executor="ray", epochs=1, address=ray_cluster)
    assert remote == local


def test_folds_train_for_the_chosen_trials_epochs(cv_run):
    from medzoo.formats.run import BestTrial
    from medzoo.storage import location

    best = BestTrial.read(cv_run)
    assert cv.chosen_epochs(location(cv_run), best) == 1  # results.parquet's epochs for t0000
    assert cv.chosen_epochs(location(cv_run), best, cap=5) == 1  # never past the configuration's epochs
    with pytest.raises(ConfigError, match="epochs >= 1"):
        cv.chosen_epochs(location(cv_run), best, cap=0)
