"""Loader throughput: decode-from-PNG vs the memory and memmap caches of ``medzoo.datasets.open``.

Prepares a figshare-brain phantom in a temporary folder, then reads every
training item (no augmentation, so only IO and decoding differ) for a few
epochs. The uncached run is the baseline measured in the same process; the
cached runs are reported as a ratio against it (after their first, filling epoch).

    python -m benchmarks.bench_loader [--patients 40] [--epochs 3] [--image-size 224]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def epoch_seconds(ds) -> float:
    start = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args([] if argv is None else argv)  # make bench calls main() with no arguments

    import torch

    from medzoo import datasets

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="medzoo-bench-") as tmp:
        raw = datasets.synthesize("figshare-brain", Path(tmp) / "raw", patients=args.patients, seed=0)
        prepared = datasets.prepare("figshare-brain", raw, Path(tmp) / "prepared", progress=False)
        results: dict[str, float] = {}
        for cache in (None, "memory", "memmap"):
            ds = datasets.open(prepared, split="train", image_size=args.image_size, cache=cache)
            times = [epoch_seconds(ds) for _ in range(args.epochs)]
            steady = min(times[1:]) if len(times) > 1 else times[0]
            results[str(cache)] = len(ds) / steady
            print(
                f"cache={cache!s:7} items={len(ds):4d} first epoch {times[0]:.3f}s "
                f"steady {steady:.3f}s -> {len(ds) / steady:8.1f} items/s"
            )
        base = results["None"]
        for cache in ("memory", "memmap"):
            print(f"{cache} cache vs decode-from-PNG baseline (same run): {results[cache] / base:.2f}x")
    return results


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
