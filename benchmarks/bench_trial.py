"""The sweep's per-trial hot spots against their naive baselines, measured in the same run.

1. Test-set bootstrap: medzoo's vectorised 1000-resample CI (weights matrix)
   vs a Python loop calling scikit-learn once per resample (the usual recipe).
2. One training epoch of a tiny family on random data (CPU, 1 thread): the
   cost a smoke trial pays per epoch, next to its evaluation pass.
"""

from __future__ import annotations

import time


def _bootstrap_ratio(n: int = 2000, resamples: int = 1000) -> None:
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    from medzoo.search.metrics import bootstrap_metrics

    rng = np.random.default_rng(0)
    t = rng.integers(0, 3, n)
    p = rng.dirichlet(np.ones(3), n)
    p[np.arange(n), t] += 0.4
    p /= p.sum(1, keepdims=True)
    t0 = time.perf_counter()
    fast = bootstrap_metrics(p, t, task="multiclass", classes=["a", "b", "c"], resamples=resamples, seed=0)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    accs = []
    for _ in range(resamples):
        i = rng.integers(0, n, n)
        accs.append(accuracy_score(t[i], p[i].argmax(1)))
        f1_score(t[i], p[i].argmax(1), average="macro")
        roc_auc_score(t[i], p[i], multi_class="ovr")
    naive = time.perf_counter() - t0
    lo, hi = np.quantile(accs, [0.025, 0.975])
    m = fast["metrics"]["accuracy"]
    print(
        f"bootstrap n={n} x{resamples}: vectorised {ours:.2f} s, sklearn loop {naive:.2f} s, "
        f"speed-up x{naive / ours:.1f}; accuracy CI [{m['ci_low']:.3f}, {m['ci_high']:.3f}] vs loop [{lo:.3f}, {hi:.3f}]"
    )


def _epoch(family: str = "tiny_effnet", n: int = 96, size: int = 64) -> None:
    import torch

    from medzoo import zoo
    from medzoo.device import detect
    from medzoo.search.losses import ClassificationLoss
    from medzoo.search.trial import evaluate, train_one_epoch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = [
        {
            "image": torch.randn(16, 3, size, size),
            "target": torch.randint(0, 3, (16,)),
            "index": torch.arange(16),
        }
        for _ in range(n // 16)
    ]
    model = zoo.create_model(family, num_classes=3)
    loss = ClassificationLoss("ce", task="multiclass", num_classes=3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    runtime = detect("cpu")
    t0 = time.perf_counter()
    train_one_epoch(model, data, loss, opt, runtime)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    evaluate(model, data, loss, runtime, task="multiclass")
    eval_s = time.perf_counter() - t0
    print(
        f"{family} {n} images at {size}px, 1 thread: train epoch {train_s:.2f} s, eval {eval_s:.2f} s "
        f"(train/eval ratio {train_s / eval_s:.1f})"
    )


def main() -> None:
    _bootstrap_ratio()
    _epoch()


if __name__ == "__main__":
    main()
