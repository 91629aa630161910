"""``make bench``: run every benchmark (``bench_*.py`` and ``gpu.py``), print each ratio next to its goal.

Each module defines ``run(opts: Options) -> list[Ratio]``; its ratios and raw
numbers go to ``benchmarks/results/<module>.json`` and a summary table is
printed at the end (and written to ``benchmarks/results/summary.json``).

    python -m benchmarks                 # everything, 3 repeats (median)
    python -m benchmarks --list          # the benchmarks' names
    python -m benchmarks --quick         # tiny sizes, 1 repeat: checks that each benchmark runs
    python -m benchmarks bench_startup bench_trial --repeats 5
    python -m benchmarks --only trial,loader --repeat 3    # a subset by short name, medians of 3 runs
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import benchmarks
from benchmarks._common import Options, Ratio, load, write_results


def names() -> list[str]:
    found = [m.name for m in pkgutil.iter_modules(benchmarks.__path__)]
    return sorted(n for n in found if n.startswith("bench_")) + (["gpu"] if "gpu" in found else [])


def _full_name(short: str) -> str:
    """``trial`` -> ``bench_trial``; ``gpu`` and full names stay as they are."""
    short = short.strip()
    return short if short in names() or short.startswith("bench_") else f"bench_{short}"


def run_one(name: str, opts: Options) -> list[Ratio]:
    mod = importlib.import_module(f"benchmarks.{name}")
    print(f"== {name} ({load()}) ==", flush=True)
    t0 = time.perf_counter()
    ratios = list(mod.run(opts))
    for r in ratios:
        print(r.line(), flush=True)
    path = write_results(name, ratios, {"seconds": time.perf_counter() - t0, "quick": opts.quick})
    print(f"   ({time.perf_counter() - t0:.1f} s, {path.name})\n", flush=True)
    return ratios


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (a smoke check)")
    parser.add_argument(
        "--repeats", "--repeat", type=int, default=None, help="runs per ratio (median); default 3"
    )
    parser.add_argument(
        "--only", default="", help="comma-separated benchmarks, with or without 'bench_' (trial,loader)"
    )
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(names()))
        return 0
    chosen = [*args.names, *(_full_name(n) for n in args.only.split(",") if n.strip())]
    unknown = sorted(set(chosen) - set(names()))
    if unknown:
        print(f"error: unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(names())}")
        return 2
    if args.repeats is not None and args.repeats < 1:
        print(f"error: --repeat must be at least 1, got {args.repeats}")
        return 2
    args.names = list(dict.fromkeys(chosen))
    summary: list[Ratio] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="medzoo-bench-") as tmp:
        opts = Options(quick=args.quick, repeats=args.repeats or (1 if args.quick else 3), workdir=Path(tmp))
        for name in args.names or names():
            try:
                summary += run_one(name, opts)
            except Exception:  # one broken benchmark must not hide the others' numbers
                traceback.print_exc()
                failed.append(name)
    print(f"== summary ({load()}) ==")
    for r in summary:
        print(r.line())
    write_results("summary", summary, {"failed": failed, "quick": opts.quick})
    if failed:
        print(f"error: benchmark(s) failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
