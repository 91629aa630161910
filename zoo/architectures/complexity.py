"""Params, GMACs (fvcore, with attention counted) and latency of a model.

fvcore counts one fused multiply-add as one "flop", so its totals are MACs; we
report them as ``gmacs`` (1e9 multiply-accumulates per image) and never call
them FLOPs (papers that report "GFLOPs" mostly mean the same MACs; Keras-based
ones sometimes mean 2 x MACs). fvcore has no handle for fused
``scaled_dot_product_attention``, which would silently drop the two attention
matmuls of every transformer block; we add one. Every other op fvcore skips is
recorded with its count, and ``op_coverage`` says which share of the
MAC-bearing op calls was counted.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

UNIT = "GMACs: 1e9 multiply-accumulates per image, fvcore convention"

#: ops that perform multiply-accumulates (the ones whose omission would under-count a model)
MAC_OPS = frozenset(
    {
        "aten::_convolution",
        "aten::conv1d",
        "aten::conv2d",
        "aten::conv3d",
        "aten::conv_transpose2d",
        "aten::addmm",
        "aten::addbmm",
        "aten::baddbmm",
        "aten::bmm",
        "aten::einsum",
        "aten::matmul",
        "aten::mm",
        "aten::linear",
        "aten::scaled_dot_product_attention",
        "aten::_scaled_dot_product_flash_attention",
        "aten::_scaled_dot_product_efficient_attention",
        "aten::_scaled_dot_product_attention_math",
    }
)


def sdpa_macs(inputs: list, outputs: list) -> int:
    """softmax(Q K^T) V: L*S*D MACs for the scores and L*S*Dv for the weighted sum, per batch and head."""
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(inputs[i]) for i in range(3))
    batch_heads = math.prod(q[:-2])
    length, depth = q[-2], q[-1]
    return batch_heads * length * k[-2] * (depth + v[-1])


def count_macs(model: Any, input_size: Sequence[int]) -> dict[str, Any]:
    """fvcore MACs for one image of ``input_size`` (C, H, W), with call counts of counted and skipped ops."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice, on fvcore's import
        from fvcore.nn import FlopCountAnalysis
        from fvcore.nn.flop_count import _DEFAULT_SUPPORTED_OPS

    calls: Counter[str] = Counter()

    def counting(name: str, handle: Any) -> Any:
        def wrapped(inputs: list, outputs: list) -> int:
            calls[name] += 1
            return handle(inputs, outputs)

        return wrapped

    handles = {**_DEFAULT_SUPPORTED_OPS, "aten::scaled_dot_product_attention": sdpa_macs}
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = torch.zeros(1, *input_size, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", FutureWarning
            )  # torch.jit's deprecation notice, from fvcore's tracer
            fca = FlopCountAnalysis(model, x)
            fca.set_op_handle(**{name: counting(name, h) for name, h in handles.items()})
            fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
            total = fca.total()
            by_op = fca.by_operator()
            skipped = dict(sorted(fca.unsupported_ops().items()))
    finally:
        model.train(was_training)
    counted_mac_calls = sum(n for op, n in calls.items() if op in MAC_OPS)
    skipped_mac_calls = sum(n for op, n in skipped.items() if op in MAC_OPS)
    denominator = counted_mac_calls + skipped_mac_calls
    return {
        "gmacs": total / 1e9,
        "macs_by_op": {op: v / 1e9 for op, v in sorted(by_op.items())},
        "skipped_ops": skipped,
        "op_coverage": counted_mac_calls / denominator if denominator else 1.0,
    }


def latency_ms(
    model: Any,
    input_size: Sequence[int],
    *,
    batch_sizes: Sequence[int] = (1, 8),
    repeats: int = 5,
    warmup: int = 2,
    device: str | None = None,
) -> dict[str, float]:
    """Median wall time of ``repeats`` forward passes per batch size, after ``warmup`` passes."""
    import torch

    from medzoo.device import detect

    runtime = detect(device)
    model = model.to(runtime.torch_device())
    if runtime.channels_last:
        model = model.to(memory_format=torch.channels_last)
    was_training = model.training
    model.eval()
    out: dict[str, float] = {}
    try:
        for bs in batch_sizes:
            x = torch.randn(bs, *input_size, device=runtime.torch_device())
            times = []
            with torch.inference_mode(), runtime.autocast():
                for i in range(warmup + repeats):
                    if runtime.cuda:
                        torch.cuda.synchronize()
                    start = time.perf_counter()
                    model(x)
                    if runtime.cuda:
                        torch.cuda.synchronize()
                    if i >= warmup:
                        times.append((time.perf_counter() - start) * 1e3)
            out[str(bs)] = statistics.median(times)
    finally:
        model.train(was_training)
    return out


def measure(
    model: Any,
    input_size: Sequence[int],
    *,
    batch_sizes: Sequence[int] = (1, 8),
    repeats: int = 5,
    device: str | None = None,
) -> dict[str, Any]:
    """Params, GMACs (eval mode, one image) and latency; ``repeats=0`` skips the latency loops."""
    from medzoo.device import detect
    from medzoo.errors import ConfigError

    input_size = tuple(int(s) for s in input_size)
    if len(input_size) != 3 or min(input_size) < 1:
        raise ConfigError(f"input_size must be (C, H, W) with positive sizes, got input_size={input_size}")
    if repeats < 0 or any(b < 1 for b in batch_sizes):
        raise ConfigError(
            f"repeats >= 0 and batch sizes >= 1 must hold, got repeats={repeats}, "
            f"batch_sizes={tuple(batch_sizes)}"
        )
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    macs = count_macs(model, input_size)
    runtime = detect(device)
    return {
        "params": params,
        "trainable_params": trainable,
        "gmacs": macs["gmacs"],
        "unit": UNIT,
        "macs_by_op": macs["macs_by_op"],
        "skipped_ops": macs["skipped_ops"],
        "op_coverage": macs["op_coverage"],
        "latency_ms": latency_ms(
            model, input_size, batch_sizes=batch_sizes, repeats=repeats, device=runtime.device
        )
        if repeats
        else {},
        "device": runtime.device,
        "input_size": list(input_size),
    }
