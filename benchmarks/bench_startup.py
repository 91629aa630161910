"""Start-up: ``medzoo --help`` against ``python -c "import torch"`` (goal <= 0.33).

The CLI must not import torch, timm, ray or pandas just to print its help; the
baseline is the cost of the one import every medzoo command that trains pays.
Both commands run alternately, so a load spike hits both.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._common import Options, Ratio, median_ratio


def _medzoo_cmd() -> list[str]:
    script = Path(sys.executable).with_name("medzoo")
    return [str(script), "--help"] if script.exists() else [sys.executable, "-m", "medzoo", "--help"]


def _seconds(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def run(opts: Options) -> list[Ratio]:
    medzoo, torch_cmd = _medzoo_cmd(), [sys.executable, "-c", "import torch"]
    _seconds(medzoo), _seconds(torch_cmd)  # warm the page cache for both
    samples = []
    for _ in range(max(opts.repeats, 3)):
        a, b = _seconds(medzoo), _seconds(torch_cmd)
        samples.append(a / b)
        print(f"   medzoo --help {a:.2f} s, import torch {b:.2f} s", flush=True)
    which = shutil.which("medzoo") or " ".join(medzoo[:3])
    return [
        median_ratio("start-up: medzoo --help / import torch", samples, goal=0.33, better="<=", note=which)
    ]


def main() -> None:
    for r in run(Options()):
        print(r.line())


if __name__ == "__main__":
    main()
