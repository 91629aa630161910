"""Train/val/test assignment: stratified by class, grouped by patient, seeded.

Rows that must not be separated (one patient's images; byte-identical images;
one slice's sequences under an image-level split) are merged into groups first,
and whole groups are dealt to splits per class stratum, so the leakage audit
passes by construction for every protocol medzoo chooses itself. Official
splits (CBIS-DDSM, ChestX-ray14 lists, figshare cvind.mat folds) are taken as
given and audited like the rest.

Folds: with ``folds=K`` the non-test rows get ``fold`` 0..K-1 by patient and
fold 0 is the default validation split; ``open(..., fold=k)`` then serves fold k
as validation and the other folds as training. The test split never has a fold.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from medzoo.errors import ConfigError

FRACTIONS = (0.70, 0.15, 0.15)  # train, val, test when the dataset defines no split
VAL_FROM_TRAIN = 0.15  # share of an official train split carved out as validation


def assign_splits(
    rows: pd.DataFrame,
    *,
    protocol: str,
    seed: int,
    folds: int | None = None,
    eval_only: bool = False,
    fractions: tuple[float, float, float] = FRACTIONS,
) -> pd.DataFrame:
    """Return ``rows`` with ``split`` and ``fold`` columns.

    ``rows`` needs: label, labels, patient_id, sha256, image_group, official_split,
    official_fold. ``protocol`` is "patient", "image" or "official".
    """
    if folds is not None and folds < 2:
        raise ConfigError(f"folds >= 2 must hold, got folds={folds}", fix="drop --folds or pass --folds 5")
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ConfigError(f"train/val/test fractions must be >= 0 and sum to 1, got {fractions}")
    out = rows.copy()
    out["split"] = "train"
    out["fold"] = -1
    if eval_only:
        out["split"] = "test"
        return out
    groups = _groups(out, by_patient=protocol != "image")
    rng = np.random.default_rng(seed)
    if protocol == "official":
        return _official(out, groups, rng, folds)
    if protocol not in ("patient", "image"):
        raise ConfigError(f"split protocol must be patient, image or official, got {protocol!r}")
    all_idx = np.arange(len(out))
    test_share = fractions[2]
    test = _deal(out, groups, all_idx, rng, [1.0 - test_share, test_share])
    rest = all_idx[test == 0]
    out.iloc[all_idx[test == 1], out.columns.get_loc("split")] = "test"
    _train_val(out, groups, rest, rng, folds, val_share=fractions[1] / max(fractions[0] + fractions[1], 1e-9))
    return out


def _official(
    out: pd.DataFrame, groups: np.ndarray, rng: np.random.Generator, folds: int | None
) -> pd.DataFrame:
    split_col, fold_col = out.columns.get_loc("split"), out.columns.get_loc("fold")
    has_split = out["official_split"].notna().all()
    has_fold = out["official_fold"].notna().all()
    if has_fold:
        if folds is not None:
            raise ConfigError(
                f"this dataset's official split comes with its own folds; --folds {folds} cannot apply",
                fix="drop --folds, or use --split patient --folds K",
            )
        official = out["official_fold"].astype(int).to_numpy()
        levels = np.sort(np.unique(official))
        if len(levels) < 3:
            raise ConfigError(f"the official folds need >= 3 distinct values, found {levels.tolist()}")
        test_level = levels[-1]  # the last official fold is the held-out test set
        rank = {lvl: i for i, lvl in enumerate(levels[:-1])}
        is_test = official == test_level
        out.iloc[np.where(is_test)[0], split_col] = "test"
        out.iloc[np.where(~is_test)[0], fold_col] = [rank[v] for v in official[~is_test]]
        out.iloc[np.where(~is_test & (official == levels[0]))[0], split_col] = "val"
        return out
    if not has_split:
        raise ConfigError(
            "the official protocol needs an official split or folds on every record; "
            "this raw download has none",
            fix="use --split patient",
        )
    official = out["official_split"].astype(str).str.lower().to_numpy()
    bad = sorted(set(official) - {"train", "test", "val"})
    if bad:
        raise ConfigError(f"official splits must be train/val/test, found {bad}")
    out.iloc[np.where(official == "test")[0], split_col] = "test"
    out.iloc[np.where(official == "val")[0], split_col] = "val"
    train = np.where(official == "train")[0]
    if (official == "val").any() and folds is None:
        return out
    _train_val(out, groups, train, rng, folds, val_share=VAL_FROM_TRAIN)
    return out


def _train_val(
    out: pd.DataFrame,
    groups: np.ndarray,
    idx: np.ndarray,
    rng: np.random.Generator,
    folds: int | None,
    *,
    val_share: float,
) -> None:
    split_col, fold_col = out.columns.get_loc("split"), out.columns.get_loc("fold")
    if len(idx) == 0:
        return
    if folds is None:
        val = _deal(out, groups, idx, rng, [1.0 - val_share, val_share])
        out.iloc[idx[val == 1], split_col] = "val"
        out.iloc[idx[val == 0], split_col] = "train"
        return
    fold = _deal(out, groups, idx, rng, [1.0 / folds] * folds)
    out.iloc[idx, fold_col] = fold
    out.iloc[idx, split_col] = np.where(fold == 0, "val", "train")


def _deal(
    out: pd.DataFrame, groups: np.ndarray, idx: np.ndarray, rng: np.random.Generator, shares: list[float]
) -> np.ndarray:
    """Assign the rows ``idx`` to bins 0..len(shares)-1, whole groups at a time, per class stratum.

    Within each stratum the groups are shuffled and each goes to the bin that is
    furthest below its target share; no bin is left empty while it could be fed.
    """
    g = groups[idx]
    uniq, inverse = np.unique(g, return_inverse=True)
    sizes = np.bincount(inverse)
    strata = _strata(out.iloc[idx], inverse, len(uniq))
    target = np.asarray(shares, dtype=float)
    assign_group = np.zeros(len(uniq), dtype=int)
    totals = np.zeros(len(shares))
    for s in sorted(set(strata), key=str):
        members = np.where(strata == s)[0]
        members = members[rng.permutation(len(members))]
        local = np.zeros(len(shares))
        stratum_total = sizes[members].sum()
        for gi in members:
            want = target * (local.sum() + sizes[gi]) - local
            want = want + 1e-9 * target * stratum_total  # ties go to the bigger share
            b = int(np.argmax(want))
            assign_group[gi] = b
            local[b] += sizes[gi]
        totals += local
    # keep every positive-share bin non-empty when there are enough groups
    for b in np.argsort(totals):
        if totals[b] == 0 and target[b] > 0 and len(uniq) >= len(shares):
            donor = int(np.argmax(totals))
            cands = np.where(assign_group == donor)[0]
            if len(cands) > 1:
                gi = cands[np.argmin(sizes[cands])]
                assign_group[gi] = b
                totals[b] += sizes[gi]
                totals[donor] -= sizes[gi]
    return assign_group[inverse]


def _strata(rows: pd.DataFrame, inverse: np.ndarray, n_groups: int) -> np.ndarray:
    """One class stratum per group: its most frequent label (first label name for multi-label rows)."""
    keys = [
        str(lab) if lab >= 0 else (names[0] if len(names) else "none")
        for lab, names in zip(rows["label"].to_numpy(), rows["labels"].to_numpy(), strict=True)
    ]
    per_group: list[Counter] = [Counter() for _ in range(n_groups)]
    for gi, k in zip(inverse, keys, strict=True):
        per_group[gi][k] += 1
    return np.array([c.most_common(1)[0][0] for c in per_group], dtype=object)


def _groups(rows: pd.DataFrame, *, by_patient: bool) -> np.ndarray:
    """Union-find: rows sharing a patient (if ``by_patient``), an image_group or a sha256 share a group."""
    n = len(rows)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    keys = ["sha256", "image_group"] + (["patient_id"] if by_patient else [])
    for col in keys:
        first: dict[object, int] = {}
        for i, v in enumerate(rows[col].to_numpy()):
            if v is None or v == "":
                continue
            if v in first:
                a, b = find(i), find(first[v])
                if a != b:
                    parent[a] = b
            else:
                first[v] = i
    return np.array([find(i) for i in range(n)])
