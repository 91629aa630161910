"""Trial speed: one medzoo trial epoch against the same epoch in plain PyTorch (goal <= 1.05).

medzoo's side is :func:`medzoo.search.trial.train_trial` as a sweep runs it: train,
validate, metrics, best-weights bookkeeping and the complete resumable checkpoint
folder handed to ``report`` every epoch. The baseline is a plain loop over tensors
preloaded once with OpenCV from the same prepared PNGs: the same model, batch size,
shuffling, Adam, and a validation pass with accuracy. Both run one thread, taking
turns. The epoch time is the median over the epochs after the first (medzoo's is
report to report); the whole trial (set-up, decoding, first epoch) is reported too.

Also printed (no goal): the vectorised test-set bootstrap against a scikit-learn loop.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks._common import Options, Ratio, median_ratio, phantom, workdir

SIZE, BATCH, FAMILY = 64, 32, "tiny_cnn"
#: 100 phantom patients give ~220 training images (the issue's trials had 344)
PATIENTS, PATIENTS_QUICK = 100, 24


def preload(prepared: Path, split: str, *, size: int = SIZE) -> tuple[Any, Any]:
    """(images N x 3 x size x size float32 normalised, int64 targets): OpenCV decode, area resize."""
    import cv2
    import numpy as np
    import torch

    from medzoo.datasets.prepare import read_manifest

    df = read_manifest(prepared)
    df = df[df["split"] == split]
    mean = np.asarray((0.485, 0.456, 0.406), np.float32).reshape(3, 1, 1)
    std = np.asarray((0.229, 0.224, 0.225), np.float32).reshape(3, 1, 1)
    out = []
    for rel in df["path"]:
        grey = cv2.imread(str(prepared / rel), cv2.IMREAD_GRAYSCALE)
        small = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        out.append((np.repeat(small[None], 3, 0) - mean) / std)
    return torch.from_numpy(np.stack(out)), torch.as_tensor(df["label"].to_numpy(np.int64).copy())


def plain_trial(prepared: Path, *, epochs: int, classes: int) -> list[float]:
    """The baseline: per-epoch wall times of a bare PyTorch loop (train + validation accuracy)."""
    import torch

    from medzoo import zoo

    xs, ys = preload(prepared, "train")
    xv, yv = preload(prepared, "val")
    torch.manual_seed(0)
    model = zoo.create_model(FAMILY, num_classes=classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(xs), generator=gen)
        for i in range(0, len(xs) - BATCH + 1, BATCH):
            idx = order[i : i + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xs[idx]), ys[idx])
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            correct = sum(
                (model(xv[i : i + BATCH]).argmax(1) == yv[i : i + BATCH]).sum().item()
                for i in range(0, len(xv), BATCH)
            )
        _ = correct / len(xv)
        times.append(time.perf_counter() - t0)
    return times


def medzoo_trial(prepared: Path, *, epochs: int) -> tuple[list[float], float]:
    """medzoo's per-epoch wall times (report to report, checkpoint included) and the whole trial's."""
    from medzoo.search.trial import train_trial

    stamps: list[float] = []

    def report(metrics: dict[str, Any], folder: Path) -> None:
        stamps.append(time.perf_counter())

    cfg = {
        "family": FAMILY,
        "image_size": SIZE,
        "batch_size": BATCH,
        "epochs": epochs,
        "augment": "none",
        "seed": 0,
    }
    t0 = time.perf_counter()
    train_trial(cfg, prepared=prepared, report=report)
    total = time.perf_counter() - t0
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)], total


def _trial_ratios(opts: Options) -> list[Ratio]:
    import statistics

    import torch

    torch.set_num_threads(1)
    epochs = 3 if opts.quick else 6
    epoch_ratios, trial_ratios = [], []
    with workdir(opts) as tmp:
        prepared = phantom(tmp, patients=PATIENTS_QUICK if opts.quick else PATIENTS)
        medzoo_trial(prepared, epochs=1), plain_trial(prepared, epochs=1, classes=3)  # imports, warm caches
        for _ in range(opts.repeats):
            ours, total = medzoo_trial(prepared, epochs=epochs)
            t0 = time.perf_counter()
            base = plain_trial(prepared, epochs=epochs, classes=3)
            base_total = time.perf_counter() - t0
            epoch_ratios.append(statistics.median(ours) / statistics.median(base[1:]))
            trial_ratios.append(total / base_total)
            print(
                f"   epoch: medzoo {statistics.median(ours):.3f} s, plain {statistics.median(base[1:]):.3f} s; "
                f"trial of {epochs} epochs: medzoo {total:.2f} s, plain (incl. preload) {base_total:.2f} s",
                flush=True,
            )
    return [
        median_ratio("trial: medzoo epoch / plain PyTorch epoch", epoch_ratios, goal=1.05, better="<="),
        median_ratio(
            "trial: whole trial / plain (info: set-up, decode)",
            trial_ratios,
            goal=float("inf"),
            better="<=",
            note="no goal; fixed costs of a short trial",
        ),
    ]


def bootstrap_speedup(n: int = 2000, resamples: int = 1000) -> float:
    """medzoo's vectorised bootstrap CI vs a scikit-learn loop (speed-up, printed; no goal)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    from medzoo.search.metrics import bootstrap_metrics

    rng = np.random.default_rng(0)
    t = rng.integers(0, 3, n)
    p = rng.dirichlet(np.ones(3), n)
    p[np.arange(n), t] += 0.4
    p /= p.sum(1, keepdims=True)
    t0 = time.perf_counter()
    bootstrap_metrics(p, t, task="multiclass", classes=["a", "b", "c"], resamples=resamples, seed=0)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(resamples):
        i = rng.integers(0, n, n)
        accuracy_score(t[i], p[i].argmax(1))
        f1_score(t[i], p[i].argmax(1), average="macro")
        roc_auc_score(t[i], p[i], multi_class="ovr")
    return (time.perf_counter() - t0) / ours


def run(opts: Options) -> list[Ratio]:
    ratios = _trial_ratios(opts)
    speedup = bootstrap_speedup(resamples=100 if opts.quick else 1000)
    ratios.append(
        Ratio(
            name="bootstrap: sklearn loop / vectorised (info)",
            value=speedup,
            goal=1.0,
            better=">=",
            samples=(speedup,),
            note="speed-up of the test-set CI",
        )
    )
    return ratios


def main() -> None:
    for r in run(Options()):
        print(r.line())


if __name__ == "__main__":
    main()
