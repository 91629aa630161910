"""The leakage audit: no patient and no identical image in two splits (or two folds).

It runs on every prepare and its result goes into dataset.json. Under an
image-level split (``--split image``, only to reproduce a study) shared patients
are counted and reported but cannot fail the audit, since sharing them is what
that protocol means; identical images always fail it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

from medzoo.errors import LeakageError


def audit(manifest: pd.DataFrame, *, protocol: str, max_examples: int = 5) -> dict[str, Any]:
    """Audit ``manifest`` (columns patient_id, sha256, split, fold); the result dict has ``passed``."""
    patients = _shared(manifest, "patient_id", "split")
    images = _shared(manifest, "sha256", "split")
    cv = manifest[(manifest["split"] != "test") & (manifest["fold"] >= 0)]
    fold_patients = _shared(cv, "patient_id", "fold")
    fold_images = _shared(cv, "sha256", "fold")
    enforce_patients = protocol != "image"
    failed = []
    if enforce_patients and patients:
        failed.append(f"{len(patients)} patient(s) in two splits, e.g. {_fmt(patients, max_examples)}")
    if enforce_patients and fold_patients:
        failed.append(
            f"{len(fold_patients)} patient(s) in two folds, e.g. {_fmt(fold_patients, max_examples)}"
        )
    if images:
        failed.append(
            f"{len(images)} identical image(s) (sha256) in two splits, e.g. {_fmt(images, max_examples)}"
        )
    if fold_images:
        failed.append(
            f"{len(fold_images)} identical image(s) (sha256) in two folds, e.g. {_fmt(fold_images, max_examples)}"
        )
    return {
        "passed": not failed,
        "protocol": protocol,
        "rows": len(manifest),
        "patients": int(manifest["patient_id"].nunique()),
        "patients_in_two_splits": len(patients),
        "patient_check_enforced": enforce_patients,
        "identical_images_in_two_splits": len(images),
        "patients_in_two_folds": len(fold_patients),
        "identical_images_in_two_folds": len(fold_images),
        "failures": failed,
        "examples": {"patients": sorted(patients)[:max_examples], "sha256": sorted(images)[:max_examples]},
    }


def require_passed(result: dict[str, Any], *, where: str) -> None:
    """Raise :class:`LeakageError` when the audit failed; nothing has been written at that point."""
    if not result["passed"]:
        raise LeakageError(
            f"the leakage audit of {where} must pass (no patient or identical image in two splits); "
            f"found {'; '.join(result['failures'])}. Nothing was written.",
            fix="use a patient-level split (--split patient), or remove the duplicated files from the raw download",
        )


def _shared(df: pd.DataFrame, key: str, by: str) -> list[str]:
    if df.empty:
        return []
    n = df.groupby(key)[by].nunique()
    return [str(k) for k in n[n > 1].index]


def _fmt(items: list[str], k: int) -> str:
    head = ", ".join(x[:16] for x in sorted(items)[:k])
    return head + (", ..." if len(items) > k else "")
