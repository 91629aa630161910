"""``check``: validate a raw download and report every problem by path.

The adapter's scan finds the items and the format problems; this module adds
what is generic to any folder (OS litter, empty folders) and decides whether
the set is usable: no fatal problem and at least one usable item.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from medzoo.datasets.base import ADAPTERS, Problem, RawRecord, Scan
from medzoo.datasets.imaging import is_stray
from medzoo.datasets.phantom import MARKER
from medzoo.errors import DatasetError


@dataclass
class CheckReport:
    dataset: str
    raw: Path
    layout: str
    records: list[RawRecord]
    problems: list[Problem]
    counts: dict[str, int]  # per class name, in class order
    excluded: dict[str, int] = field(default_factory=dict)  # items deliberately left out (e.g. no-tumour)

    @property
    def usable(self) -> bool:
        return bool(self.records) and not any(p.fatal for p in self.problems)

    def summary(self) -> str:
        state = "usable" if self.usable else "UNUSABLE"
        return (
            f"{self.dataset} at {self.raw} ({self.layout}): {len(self.records)} items, "
            f"{len(self.problems)} problems -> {state}"
        )


def check(dataset_id: str, raw: str | Path) -> CheckReport:
    """Scan ``raw`` as ``dataset_id``; never raises on bad files, only on a missing folder."""
    adapter = ADAPTERS.get(dataset_id)
    raw = Path(raw).expanduser().resolve()
    if not raw.is_dir():
        raise DatasetError(
            f"the raw folder must exist, got {raw}",
            fix=f"medzoo datasets synth {dataset_id} {raw}  # or point at your download",
        )
    scan: Scan = adapter.scan(raw)
    problems = generic_problems(raw) + list(scan.problems)
    if not scan.records and not any(p.fatal for p in problems):
        problems.append(
            Problem(
                ".",
                f"no {dataset_id} items found in any known layout ({'; '.join(adapter.spec.layouts)})",
                fatal=True,
            )
        )
    counts = Counter(r.label for r in scan.records if r.label >= 0)
    per_class = {name: counts.get(i, 0) for i, name in enumerate(adapter.spec.classes)}
    if adapter.spec.task == "multilabel":
        names = Counter(n for r in scan.records for n in r.labels)
        per_class = {name: names.get(name, 0) for name in adapter.spec.classes}
    if scan.records:
        for name, n in per_class.items():
            if n == 0:
                problems.append(Problem(".", f"class {name!r} has no items; the prepared set will lack it"))
        present = [name for name, n in per_class.items() if n > 0]
        if adapter.spec.task != "multilabel" and not adapter.spec.eval_only and len(present) < 2:
            problems.append(
                Problem(
                    ".",
                    f"a {adapter.spec.task} set needs items of at least 2 classes to train on, found only "
                    f"{present}; the other classes' folders or rows are missing (see the problems above)",
                    fatal=True,
                )
            )
    return CheckReport(dataset_id, raw, scan.layout, scan.records, problems, per_class, dict(scan.excluded))


def generic_problems(raw: Path) -> list[Problem]:
    """OS litter and empty folders, in path order (harmless, but a sign of a messy copy)."""
    problems: list[Problem] = []
    for dirpath, dirnames, filenames in os.walk(raw):
        dirnames.sort()
        rel_dir = Path(dirpath).relative_to(raw)
        if "__MACOSX" in rel_dir.parts:
            if rel_dir.parts[-1] == "__MACOSX":
                problems.append(Problem(str(rel_dir), "macOS archive litter (__MACOSX); ignored"))
            continue
        if not dirnames and not filenames and rel_dir != Path("."):
            problems.append(Problem(str(rel_dir), "empty folder; ignored"))
        for name in sorted(filenames):
            if name == MARKER and rel_dir == Path("."):
                continue
            if is_stray(name):
                problems.append(Problem(str(rel_dir / name), "stray OS file; ignored (safe to delete)"))
    return problems
