"""The GPU path (skipped without CUDA): what AMP, channels_last and sharing a GPU buy.

1. resnet50 training images/s with AMP + channels_last (medzoo's CUDA runtime)
   against fp32 / NCHW (no goal in the issue; reported).
2. Share of step time spent waiting on data: medzoo's trial loader (2 workers,
   decoded cache) feeding resnet50 at 224 px (lower is better; reported).
3. Throughput of 4 trials sharing one GPU (as ``--gpus-per-trial 0.25`` places
   them: 4 processes on one device) against one trial alone (reported).
A 2-worker data-parallel trial needs 2 GPUs; it is skipped on fewer.
"""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks._common import Options, Ratio


def _skip(name: str, why: str) -> Ratio:
    wait = "waiting" in name  # the one ratio where lower is better
    return Ratio(name=name, value=None, goal=0.1 if wait else 1.0, better="<=" if wait else ">=", note=why)


def train_rate(*, amp: bool, steps: int, batch: int = 64) -> float:
    """resnet50 training images/s on random CUDA tensors."""
    import torch

    from medzoo import zoo
    from medzoo.device import detect
    from medzoo.search.trial import train_one_epoch

    rt = detect("cuda")
    if not amp:
        rt = type(rt)(rt.device, None, False, rt.pin_memory, rt.persistent_workers)
    model = zoo.create_model("resnet50", num_classes=3).to(rt.torch_device())
    if rt.channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, 224, 224, device=rt.torch_device())
    data = [{"image": x, "target": torch.zeros(batch, dtype=torch.long, device=x.device)}] * steps
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda") if rt.amp_dtype == "float16" else None
    loss = torch.nn.CrossEntropyLoss()
    train_one_epoch(model, data[:3], loss, opt, rt, scaler)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    train_one_epoch(model, data, loss, opt, rt, scaler)
    torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0)


def data_wait_share(opts: Options) -> float:
    """Fraction of an epoch's wall time spent in ``next(loader)`` for resnet50 on the phantom."""
    import torch

    from benchmarks._common import phantom, workdir
    from medzoo import zoo
    from medzoo.device import detect
    from medzoo.search.config import TrialConfig
    from medzoo.search.trial import build_loaders

    rt = detect("cuda", num_workers=2)
    cfg = TrialConfig(family="resnet50", image_size=224, augment="light", batch_size=32, num_workers=2)
    with workdir(opts) as tmp:
        prepared = phantom(tmp, patients=24 if opts.quick else 100)
        loader = build_loaders(
            cfg,
            prepared=prepared,
            image_size=224,
            mean=(0.5,) * 3,
            std=(0.25,) * 3,
            runtime=rt,
            splits=("train",),
        )["train"]
        model = zoo.create_model("resnet50", num_classes=3).to(
            rt.torch_device(), memory_format=torch.channels_last
        )
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)
        waited = total = 0.0
        for epoch in range(3):  # the first epoch fills the workers' caches
            t0 = time.perf_counter()
            wait = 0.0
            it = iter(loader)
            while True:
                w0 = time.perf_counter()
                try:
                    batch = next(it)
                except StopIteration:
                    break
                wait += time.perf_counter() - w0
                x = batch["image"].to(rt.torch_device(), non_blocking=True)
                with rt.autocast():
                    loss = torch.nn.functional.cross_entropy(model(x), batch["target"].to(x.device))
                opt.zero_grad()
                loss.backward()
                opt.step()
            torch.cuda.synchronize()
            if epoch > 0:
                waited, total = waited + wait, total + time.perf_counter() - t0
    return waited / total


def shared_gpu_ratio(steps: int) -> float:
    """Aggregate images/s of 4 processes on one GPU against one process alone."""
    code = f"from benchmarks.gpu import train_rate; print(train_rate(amp=True, steps={steps}, batch=32))"

    def launch(n: int) -> float:
        procs = [
            subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
            for _ in range(n)
        ]
        return sum(float(p.communicate(timeout=600)[0].split()[-1]) for p in procs)

    return launch(4) / launch(1)


def run(opts: Options) -> list[Ratio]:
    import torch

    names = (
        "gpu: AMP+channels_last / fp32 images/s",
        "gpu: share of step time waiting on data",
        "gpu: 4 trials at 0.25 GPU / 1 trial at 1 GPU",
        "gpu: 2-worker data-parallel / 1 worker",
    )
    if not torch.cuda.is_available():
        return [_skip(n, "no CUDA on this machine") for n in names]
    steps = 5 if opts.quick else 30
    amp = train_rate(amp=True, steps=steps) / train_rate(amp=False, steps=steps)
    out = [
        Ratio(name=names[0], value=amp, goal=1.0, better=">=", samples=(amp,)),
        Ratio(
            name=names[1], value=data_wait_share(opts), goal=0.1, better="<=", note="reported; no goal set"
        ),
        Ratio(
            name=names[2], value=shared_gpu_ratio(steps), goal=1.0, better=">=", note="reported; no goal set"
        ),
    ]
    if torch.cuda.device_count() < 2:
        out.append(_skip(names[3], f"{torch.cuda.device_count()} GPU(s); needs 2"))
    else:
        out.append(_skip(names[3], "not measured by this script yet"))
    return out


def main() -> None:
    for r in run(Options()):
        print(r.line())


if __name__ == "__main__":
    main()
