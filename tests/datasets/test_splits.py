"""Splits: stratified by class, grouped by patient (and identical image), seeded, official, K folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medzoo.datasets.splits import assign_splits
from medzoo.errors import ConfigError


def rows(n_patients: int = 60, per_patient: int = 4, seed: int = 0, classes: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = []
    for p in range(n_patients):
        label = int(rng.choice(classes, p=[0.5, 0.3, 0.2][:classes]))
        for i in range(int(rng.integers(1, per_patient + 1))):
            out.append(
                {
                    "label": label,
                    "labels": [f"c{label}"],
                    "patient_id": f"P{p:03d}",
                    "sha256": f"{p:03d}-{i}",
                    "image_group": f"{p:03d}-{i}",
                    "official_split": None,
                    "official_fold": None,
                }
            )
    return pd.DataFrame(out)


def test_patient_split_is_grouped_stratified_and_sized() -> None:
    df = assign_splits(rows(), protocol="patient", seed=0)
    assert (df.groupby("patient_id")["split"].nunique() == 1).all()
    share = df["split"].value_counts(normalize=True)
    assert (
        abs(share["train"] - 0.70) < 0.08
        and abs(share["val"] - 0.15) < 0.06
        and abs(share["test"] - 0.15) < 0.06
    )
    overall = df["label"].value_counts(normalize=True)
    for split in ("train", "val", "test"):
        part = df.loc[df.split == split, "label"].value_counts(normalize=True)
        for label in overall.index:
            assert abs(part.get(label, 0) - overall[label]) < 0.12, (split, label)
    assert (df["fold"] == -1).all()


def test_seeded_deterministic_and_seed_sensitive() -> None:
    a = assign_splits(rows(), protocol="patient", seed=3)["split"].tolist()
    b = assign_splits(rows(), protocol="patient", seed=3)["split"].tolist()
    c = assign_splits(rows(), protocol="patient", seed=4)["split"].tolist()
    assert a == b and a != c


def test_identical_images_stay_together_even_across_patients() -> None:
    df = rows()
    last = len(df) - 1
    df.loc[5, "sha256"] = df.loc[last, "sha256"]  # the same picture filed under two patients
    out = assign_splits(df, protocol="patient", seed=0)
    assert out.loc[5, "split"] == out.loc[last, "split"]
    img = assign_splits(df, protocol="image", seed=0)
    assert img.loc[5, "split"] == img.loc[last, "split"]
    assert (img.groupby("patient_id")["split"].nunique() > 1).any()  # image-level: patients straddle


def test_k_folds_by_patient_with_fixed_test() -> None:
    df = assign_splits(rows(), protocol="patient", seed=0, folds=5)
    cv = df[df.split != "test"]
    assert sorted(cv["fold"].unique()) == [0, 1, 2, 3, 4]
    assert (cv.groupby("patient_id")["fold"].nunique() == 1).all()
    assert set(cv.loc[cv.fold == 0, "split"]) == {"val"} and set(cv.loc[cv.fold > 0, "split"]) == {"train"}
    assert (df.loc[df.split == "test", "fold"] == -1).all()
    sizes = cv["fold"].value_counts()
    assert sizes.max() - sizes.min() <= 6
    with pytest.raises(ConfigError, match="folds >= 2 must hold, got folds=1"):
        assign_splits(rows(), protocol="patient", seed=0, folds=1)


def test_official_split_kept_and_val_carved_from_train_by_patient() -> None:
    df = rows()
    df["official_split"] = np.where(df["patient_id"] < "P040", "train", "test")
    out = assign_splits(df, protocol="official", seed=0)
    assert (out.loc[df.official_split == "test", "split"] == "test").all()
    train_side = out[df.official_split == "train"]
    assert set(train_side["split"]) == {"train", "val"}
    assert (train_side.groupby("patient_id")["split"].nunique() == 1).all()
    assert 0.08 < (train_side["split"] == "val").mean() < 0.25


def test_official_folds_last_is_test() -> None:
    df = rows()
    df["official_fold"] = df["patient_id"].str[1:].astype(int) % 5 + 1
    out = assign_splits(df, protocol="official", seed=0)
    assert (out.loc[df.official_fold == 5, "split"] == "test").all()
    assert (out.loc[df.official_fold < 5, "fold"] == df.loc[df.official_fold < 5, "official_fold"] - 1).all()
    with pytest.raises(ConfigError, match="own folds"):
        assign_splits(df, protocol="official", seed=0, folds=3)


def test_eval_only_puts_everything_in_test() -> None:
    out = assign_splits(rows(10), protocol="image", seed=0, eval_only=True)
    assert set(out["split"]) == {"test"}


def test_tiny_sets_still_fill_every_split() -> None:
    out = assign_splits(rows(n_patients=4, per_patient=1), protocol="patient", seed=0)
    assert set(out["split"]) == {"train", "val", "test"}
