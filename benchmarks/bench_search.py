"""Early stopping pays: ASHA and TPE against random search, with real medzoo trials on a phantom.

Every trial is :func:`medzoo.search.trial.train_trial` (tiny_cnn at 32 px on a
figshare-brain phantom); its per-epoch validation accuracy is recorded once at the
full budget, and the schedulers are replayed on those curves (a trial is
deterministic for its config and seed, so a trial stopped at epoch k would have
seen exactly the first k values).

1. ASHA, configured as ``medzoo sweep --scheduler asha`` configures Ray's
   ``ASHAScheduler`` (grace period epochs // 3, reduction factor 2, max_t epochs)
   and replayed with its asynchronous rule (a trial continues past a rung when its
   result is not below the rung's (1 - 1/rf) quantile so far), one trial at a time:
   the epochs it spends until its best is within 0.5 point of the best
   full-budget random-search result, over the epochs random search spent on the
   same configurations. Goal: <= 0.35 in 4 of 5 seeds.
2. TPE (Optuna's TPESampler, seeded, as the sweep's searcher) against random
   sampling over the same space: trials until TPE matches random search's best of
   40, over 40. Goal: <= 0.7.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import Options, Ratio, median_ratio, phantom, workdir


def curve(prepared: Path, params: dict[str, Any], *, epochs: int, seed: int) -> list[float]:
    """Validation accuracy (percent) after each epoch of one medzoo trial."""
    import torch

    from medzoo.search.trial import train_trial

    torch.set_num_threads(1)
    values: list[float] = []
    cfg = {
        "family": "tiny_cnn",
        "head": "gap_dropout",
        "image_size": 32,
        "augment": "none",
        "epochs": epochs,
        "seed": seed,
        **params,
    }
    train_trial(cfg, prepared=prepared, report=lambda m, _: values.append(100 * float(m["val_accuracy"])))
    # the report's val_* are the best epoch's so far: exactly what Ray's ASHA compares in a medzoo sweep
    return values


def sample(rng: np.random.Generator) -> dict[str, Any]:
    return {
        "lr": float(10 ** rng.uniform(-4, -1.5)),
        "dropout": float(rng.uniform(0, 0.5)),
        "batch_size": int(rng.choice([16, 32, 64])),
    }


def asha_epochs(curves: list[list[float]], *, target: float, epochs: int, rf: int = 2) -> int | None:
    """Epochs spent (trials in order, one at a time) until the best seen is >= target; None if never."""
    grace = max(1, epochs // 3)  # as medzoo.search.sweep configures ASHA
    rungs = [r for r in (grace * rf**k for k in range(10)) if r < epochs]
    recorded: dict[int, list[float]] = {r: [] for r in rungs}
    spent, best = 0, -math.inf
    for c in curves:
        for t in range(1, epochs + 1):
            spent += 1
            best = max(best, c[t - 1])
            if best >= target:
                return spent
            if t in recorded:
                seen = recorded[t]
                cutoff = np.nanpercentile(seen, (1 - 1 / rf) * 100) if seen else -math.inf
                seen.append(c[t - 1])
                if c[t - 1] < cutoff:
                    break
    return None


def asha_ratio(prepared: Path, *, seed: int, trials: int, epochs: int) -> float:
    rng = np.random.default_rng(seed)
    curves = [curve(prepared, sample(rng), epochs=epochs, seed=seed) for _ in range(trials)]
    target = max(c[-1] for c in curves) - 0.5
    spent = asha_epochs(curves, target=target, epochs=epochs)
    return math.inf if spent is None else spent / (trials * epochs)


def tpe_ratio(prepared: Path, *, seed: int, trials: int, epochs: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: Any) -> float:
        params = {
            "lr": trial.suggest_float("lr", 1e-4, 10**-1.5, log=True),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "batch_size": trial.suggest_categorical("batch_size", [16, 32, 64]),
        }
        return curve(prepared, params, epochs=epochs, seed=seed)[-1]

    random = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed))
    random.optimize(objective, n_trials=trials)
    tpe = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    for n in range(1, trials + 1):
        tpe.optimize(objective, n_trials=1)
        if tpe.best_value >= random.best_value:
            return n / trials
    return math.inf


def run(opts: Options) -> list[Ratio]:
    seeds = range(2 if opts.quick else 5)
    trials, epochs = (6, 4) if opts.quick else (12, 8)
    with workdir(opts) as tmp:
        prepared = phantom(tmp, patients=24 if opts.quick else 60)
        asha = [asha_ratio(prepared, seed=s, trials=trials, epochs=epochs) for s in seeds]
        print(f"   ASHA / random epochs per seed: {', '.join(f'{a:.3f}' for a in asha)}", flush=True)
        n = 8 if opts.quick else 40
        tpe = tpe_ratio(prepared, seed=0, trials=n, epochs=2 if opts.quick else 3)
    met = sum(a <= 0.35 for a in asha)
    fourth = sorted(asha)[min(3, len(asha) - 1)]  # <= 0.35 exactly when 4 of 5 seeds are
    return [
        Ratio(
            name="search: ASHA / random epochs (4th best seed)",
            value=fourth,
            goal=0.35,
            better="<=",
            samples=tuple(asha),
            note=f"{met} of {len(asha)} seeds <= 0.35 (goal: 4 of 5)",
        ),
        median_ratio(f"search: TPE trials to match random@{n} / {n}", [tpe], goal=0.7, better="<="),
    ]


def main() -> None:
    for r in run(Options()):
        print(r.line())


if __name__ == "__main__":
    main()
