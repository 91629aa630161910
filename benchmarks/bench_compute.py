"""Compute efficiency on this machine's CPU, measured side by side.

1. resnet50 training FLOP/s (3 x 2 x GMACs x images/s, batch 8 at 224 px, as medzoo's
   train_one_epoch steps it) against a large float32 matrix multiply's FLOP/s: >= 0.35.
2. Grad-CAM (medzoo's ``compute_cams``) per image against one training step at batch 1
   of the same model: <= 1.3.
3. Grad-CAM batched (8 images at once) per image against unbatched (one at a time): <= 0.6.

Both sides use all of torch's threads here: the point is the fraction of the
machine's peak that training reaches.
"""

from __future__ import annotations

import time

from benchmarks._common import Options, Ratio, median_ratio


def matmul_flops(n: int = 2048, reps: int = 3) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def training_flops(model, gmacs: float, *, batch: int, side: int, steps: int) -> float:
    """FLOP/s of medzoo's training loop (train_one_epoch) on random batches."""
    import torch

    from medzoo.device import detect
    from medzoo.search.trial import train_one_epoch

    data = [{"image": torch.randn(batch, 3, side, side), "target": torch.randint(0, 3, (batch,))}] * steps
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss = torch.nn.CrossEntropyLoss()
    train_one_epoch(model, data[:1], loss, opt, detect("cpu"))  # warm-up
    t0 = time.perf_counter()
    train_one_epoch(model, data, loss, opt, detect("cpu"))
    return 3 * 2 * gmacs * 1e9 * batch * steps / (time.perf_counter() - t0)


def gradcam_ratios(model, *, side: int, layer: str, reps: int) -> tuple[float, float]:
    """(CAM per image / train step at batch 1, batched CAM per image / unbatched CAM per image)."""
    import torch

    from medzoo.zoo.inference.gradcam import compute_cams

    x = torch.randn(8, 3, side, side)
    classes = [0] * 8

    def cams(images, bs):
        return compute_cams(
            model, images, classes[: len(images)], layer=layer, task="multiclass", batch_size=bs
        )

    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss = torch.nn.CrossEntropyLoss()

    def step():
        model.train()
        opt.zero_grad()
        loss(model(x[:1]), torch.zeros(1, dtype=torch.long)).backward()
        opt.step()

    cams(x[:1], 1), step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    step_s = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(reps):
        cams(x[:1], 1)
    single = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    cams(x, 8)
    batched = (time.perf_counter() - t0) / 8
    return single / step_s, batched / single


def run(opts: Options) -> list[Ratio]:
    import torch

    from medzoo import zoo
    from medzoo.zoo.architectures.complexity import count_macs

    name, side = ("resnet34", 64) if opts.quick else ("resnet50", 224)
    torch.manual_seed(0)
    model = zoo.create_model(name, num_classes=3)
    gmacs = count_macs(model, (3, side, side))["gmacs"]
    layer = model.medzoo["cam_layer"] if hasattr(model, "medzoo") else None
    eff, cam_step, cam_batch = [], [], []
    for _ in range(opts.repeats):
        peak = matmul_flops()
        train = training_flops(model, gmacs, batch=8, side=side, steps=2 if opts.quick else 3)
        eff.append(train / peak)
        a, b = gradcam_ratios(model, side=side, layer=layer, reps=2 if opts.quick else 3)
        cam_step.append(a), cam_batch.append(b)
        print(
            f"   {name}: training {train / 1e9:.1f} GFLOP/s vs matmul {peak / 1e9:.1f} GFLOP/s; "
            f"CAM/step {a:.2f}, batched/unbatched {b:.2f}",
            flush=True,
        )
    return [
        median_ratio(f"compute: {name} training / matmul FLOP/s", eff, goal=0.35, better=">="),
        median_ratio("compute: Grad-CAM per image / train step (b1)", cam_step, goal=1.3, better="<="),
        median_ratio("compute: Grad-CAM batched(8) / unbatched", cam_batch, goal=0.6, better="<="),
    ]


def main() -> None:
    for r in run(Options()):
        print(r.line())


if __name__ == "__main__":
    main()
