"""Shared pieces of the benchmarks: a ratio against its goal, medians, a phantom, the results folder.

Every benchmark measures medzoo and a plain PyTorch/NumPy baseline side by side in
one process (or one run), so that the noise of a shared machine cancels in the ratio.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True, kw_only=True)
class Ratio:
    """One measured ratio next to its goal; ``better`` says which side of the goal meets it."""

    name: str
    value: float | None  # None: not measured here (e.g. no CUDA), with the reason in ``note``
    goal: float
    better: str  # "<=" or ">="
    samples: tuple[float, ...] = ()
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value <= self.goal if self.better == "<=" else self.value >= self.goal

    def line(self) -> str:
        verdict = {True: "met", False: "MISSED", None: "skipped"}[self.met]
        value = "-" if self.value is None else f"{self.value:.3f}"
        spread = f" (runs: {', '.join(f'{s:.3f}' for s in self.samples)})" if len(self.samples) > 1 else ""
        note = f"  [{self.note}]" if self.note else ""
        return f"  {self.name:<48} {value:>8}  goal {self.better} {self.goal:<6g} {verdict}{spread}{note}"


@dataclass(frozen=True, kw_only=True)
class Options:
    """What ``python -m benchmarks`` passes each benchmark's ``run``."""

    quick: bool = False  # tiny sizes: checks that the benchmark works, numbers are not meaningful
    repeats: int = 3
    workdir: Path | None = None  # where phantoms are kept between benchmarks of one run (else a temp dir)
    extra: dict[str, Any] = field(default_factory=dict)


def median_ratio(name: str, samples: Sequence[float], *, goal: float, better: str, note: str = "") -> Ratio:
    vals = tuple(float(s) for s in samples)
    return Ratio(
        name=name,
        value=statistics.median(vals) if vals else None,
        goal=goal,
        better=better,
        samples=vals,
        note=note,
    )


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def load() -> str:
    """The machine's load average (the numbers are noisier the higher it is)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"load {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} CPUs"


def write_results(bench: str, ratios: Sequence[Ratio], details: dict[str, Any] | None = None) -> Path:
    """``benchmarks/results/<bench>.json`` (replaced atomically), ratios with goals plus raw numbers."""
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "benchmark": bench,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load": load(),
        "ratios": [{**asdict(r), "met": r.met} for r in ratios],
        "details": details or {},
    }
    path = RESULTS / f"{bench}.json"
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def phantom(root: Path, *, patients: int = 24, seed: int = 0) -> Path:
    """A prepared figshare-brain phantom under ``root`` (240 px, grey, with masks); made once per root."""
    from medzoo import datasets

    where = root / f"phantom-{patients}-{seed}"
    if (where / "prepared" / "dataset.json").is_file():
        return where / "prepared"
    raw = datasets.synthesize("figshare-brain", where / "raw", patients=patients, seed=seed)
    return datasets.prepare("figshare-brain", raw, where / "prepared", progress=False)


@contextlib.contextmanager
def workdir(opts: Options) -> Iterator[Path]:
    """The run's shared folder (phantoms made once for all benchmarks), or a temporary one."""
    if opts.workdir is not None:
        yield opts.workdir
        return
    with tempfile.TemporaryDirectory(prefix="medzoo-bench-") as tmp:
        yield Path(tmp)
