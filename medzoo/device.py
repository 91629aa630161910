"""The one place that decides CPU vs GPU settings.

The same code path runs everywhere: when CUDA is present AMP (bf16 where
supported, else fp16), channels_last, pinned memory and persistent loader
workers switch on; on CPU they stay off.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Runtime:
    device: str
    amp_dtype: str | None  # "bfloat16" | "float16" | None
    channels_last: bool
    pin_memory: bool
    persistent_workers: bool

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    def torch_device(self):
        import torch

        return torch.device(self.device)

    def autocast(self):
        """A context manager: autocast on CUDA with the chosen dtype, a no-op on CPU."""
        import contextlib

        import torch

        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=getattr(torch, self.amp_dtype))


def detect(device: str | None = None, *, num_workers: int = 0) -> Runtime:
    """Pick the runtime: ``device`` if given ("cpu", "cuda", "cuda:1"), else CUDA when available."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        amp = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return Runtime(device, amp, True, True, num_workers > 0)
    return Runtime(device, None, False, False, False)
