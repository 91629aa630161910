"""Input pipeline: medzoo's loader against raw OpenCV decoding, and training from it against preloaded tensors.

1. Loader images/s (decode + ``light`` augmentation + tensor, 2 DataLoader workers,
   224 px) against a bare ``cv2.imread`` of the same files in 2 processes: >= 0.55.
2. The same loader with the decoded cache (``cache="memory"``, workers kept alive,
   measured after the filling epoch) against the same baseline: >= 1.5.
3. End to end: training images/s of tiny_cnn at 128 px fed by the loader a trial
   builds (:func:`medzoo.search.trial.build_loaders`, no augmentation) against the
   same training on tensors preloaded once: >= 0.85.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks._common import Options, Ratio, median_ratio, phantom, workdir

PATIENTS, PATIENTS_QUICK = 100, 24


def _imread(path: str) -> int:
    import cv2

    return int(cv2.imread(path, cv2.IMREAD_GRAYSCALE).shape[0])


def raw_decode_rate(paths: list[str]) -> float:
    """Images/s of cv2.imread over ``paths`` in 2 processes (the pool started before timing)."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(_imread, paths[:4])
        t0 = time.perf_counter()
        pool.map(_imread, paths, chunksize=8)
        return len(paths) / (time.perf_counter() - t0)


def loader_rate(prepared: Path, *, cache: str | None, epochs: int = 2) -> float:
    """Images/s of the last epoch of a 2-worker DataLoader over medzoo's train split at 224 px."""
    from torch.utils.data import DataLoader

    from medzoo import datasets

    ds = datasets.open(prepared, split="train", image_size=224, augment="light", cache=cache, masks=False)
    loader = DataLoader(ds, batch_size=32, num_workers=2, persistent_workers=True, shuffle=True)
    rate = 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        n = sum(len(b["image"]) for b in loader)
        rate = n / (time.perf_counter() - t0)
    return rate


def _train(model, batches, opt) -> int:
    import torch

    loss_fn, n = torch.nn.CrossEntropyLoss(), 0
    model.train()
    for x, y in batches:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
        n += len(x)
    return n


def end_to_end(prepared: Path, *, epochs: int) -> tuple[float, float]:
    """(images/s from the trial's loader, images/s from preloaded tensors): same model, same steps."""
    import torch

    from medzoo import zoo
    from medzoo.device import detect
    from medzoo.search.config import TrialConfig
    from medzoo.search.trial import build_loaders

    cfg = TrialConfig(family="tiny_cnn", image_size=128, augment="none", batch_size=32)
    loader = build_loaders(
        cfg,
        prepared=prepared,
        image_size=128,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        runtime=detect("cpu"),
        splits=("train",),
    )["train"]
    torch.manual_seed(0)
    model = zoo.create_model("tiny_cnn", num_classes=3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    preloaded = [(b["image"].clone(), b["target"].clone()) for b in loader]  # also fills the cache
    _train(model, preloaded, opt)  # warm-up (allocator, kernels), untimed: the side timed first paid it
    spent, images = [0.0, 0.0], [0, 0]
    for _ in range(epochs):  # epochs alternate between the two sides, so drifting load hits both alike
        for side, batches in enumerate((((b["image"], b["target"]) for b in loader), iter(preloaded))):
            t0 = time.perf_counter()
            images[side] += _train(model, batches, opt)
            spent[side] += time.perf_counter() - t0
    return images[0] / spent[0], images[1] / spent[1]


def run(opts: Options) -> list[Ratio]:
    import torch

    from medzoo.datasets.prepare import read_manifest

    torch.set_num_threads(1)
    plain, cached, e2e = [], [], []
    with workdir(opts) as tmp:
        prepared = phantom(tmp, patients=PATIENTS_QUICK if opts.quick else PATIENTS)
        df = read_manifest(prepared)
        paths = [str(prepared / p) for p in df[df["split"] == "train"]["path"]]
        for _ in range(opts.repeats):
            base = raw_decode_rate(paths)
            a = loader_rate(prepared, cache=None)
            b = loader_rate(prepared, cache="memory")
            ours, pre = end_to_end(prepared, epochs=1 if opts.quick else 3)
            print(
                f"   raw cv2 {base:.0f} img/s; loader {a:.0f}, cached {b:.0f} img/s; "
                f"training {ours:.0f} img/s from the loader vs {pre:.0f} preloaded",
                flush=True,
            )
            plain.append(a / base), cached.append(b / base), e2e.append(ours / pre)
    return [
        median_ratio("loader: loader / raw cv2 decode (2 procs)", plain, goal=0.55, better=">="),
        median_ratio("loader: cached loader / raw cv2 decode", cached, goal=1.5, better=">="),
        median_ratio("loader: training from loader / preloaded", e2e, goal=0.85, better=">="),
    ]


def main() -> None:
    for r in run(Options()):
        print(r.line())


if __name__ == "__main__":
    main()
