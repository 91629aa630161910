"""``make bench``: run every ``benchmarks/bench_*.py`` (each defines ``main()``), or the ones named."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import benchmarks


def main(argv: list[str]) -> int:
    names = argv or sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    for name in names:
        mod = importlib.import_module(f"benchmarks.{name}")
        print(f"== {name} ==", flush=True)
        t0 = time.perf_counter()
        mod.main()
        print(f"   ({time.perf_counter() - t0:.1f} s)\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
