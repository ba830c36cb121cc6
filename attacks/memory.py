"""Batches that fit the worker: how much memory one sample costs a model, and how much the device has free.

A 224×224 ResNet-50 keeps about 100 MB of activations per image for an input gradient; a batch size chosen
for the digits CNN (128) would ask for tens of gigabytes and end the job with an out-of-memory kill. Every
task that batches a model asks `fit_batch` first: the requested batch, lowered to what half the free memory
holds (the rest is the model, the data, the allocator's slack and the other process on the machine), never
below 1. The result records what was used and why, so a smaller batch is never a silent change.

The per-sample cost is counted, not guessed from the model's name: one forward of a single sample with hooks
on every leaf module sums the bytes of their outputs. That count is an upper bound of a forward + input
gradient's peak: measured on a CPU with batches of 4 and 16, the peak resident growth per sample was 0.57–0.74×
the count for timm's ResNet-50 and 0.48× for its ViT-S/16 (in-place activations and outputs that autograd
does not keep are counted anyway), so the count itself is the budget per sample. Free memory is the CUDA
allocator's view on a GPU, and on a CPU the kernel's MemAvailable, capped by the sandbox's address-space limit
when it has one.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

GRADIENT_FACTOR = 1  # peak bytes of a forward + input gradient, in units of the counted activations (see above)
FORWARD_FACTOR = 0.5  # a forward alone frees each activation once the next layer has used it
SHARE_OF_FREE = 0.5


@dataclass(frozen=True)
class BatchFit:
    batch_size: int
    requested: int
    per_sample_bytes: int
    free_bytes: int

    @property
    def reduced(self) -> bool:
        return self.batch_size < self.requested

    def as_dict(self) -> dict[str, Any]:
        """For a result document: the batch used, and the numbers that chose it."""
        return {
            "batch_size": self.batch_size,
            "requested_batch_size": self.requested,
            "per_sample_mb": round(self.per_sample_bytes / 2**20, 1),
            "free_mb": round(self.free_bytes / 2**20),
        }

    def note(self) -> str:
        if not self.reduced:
            return ""
        return (
            f"Batches of {self.batch_size} instead of {self.requested}: about "
            f"{self.per_sample_bytes / 2**20:.0f} MB a sample, {self.free_bytes / 2**30:.1f} GB free."
        )


def activation_bytes(model: nn.Module, input_shape: tuple[int, ...], device: str = "cpu") -> int:
    """Bytes of the outputs of every leaf module for one sample of `input_shape` (one forward, no gradient)."""
    import torch

    total = [int(torch.Size(input_shape).numel()) * 4]

    def count(_module: Any, _inputs: Any, output: Any) -> None:
        for tensor in output if isinstance(output, tuple | list) else (output,):
            if isinstance(tensor, torch.Tensor):
                total[0] += tensor.numel() * tensor.element_size()

    leaves = [module for module in model.modules() if not any(True for _ in module.children())]
    handles = [module.register_forward_hook(count) for module in leaves]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return total[0]


def free_bytes(device: str = "cpu") -> int:
    """Memory this process can still use on `device`."""
    if str(device).startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    available = _meminfo_available()
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        available = min(available, max(0, soft - _virtual_size()))
    return available


def _meminfo_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise OSError("MemAvailable is missing from /proc/meminfo")


def _virtual_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def fit_batch(
    requested: int,
    model: nn.Module,
    input_shape: tuple[int, ...],
    device: str = "cpu",
    *,
    gradient: bool = True,
    free: int | None = None,
) -> BatchFit:
    """The largest batch, up to `requested`, whose activations fit in half the free memory (at least 1)."""
    per_sample = int(activation_bytes(model, input_shape, device) * (GRADIENT_FACTOR if gradient else FORWARD_FACTOR))
    free = free_bytes(device) if free is None else free
    fits = int(free * SHARE_OF_FREE // max(per_sample, 1))
    return BatchFit(
        batch_size=max(1, min(int(requested), fits)),
        requested=int(requested),
        per_sample_bytes=per_sample,
        free_bytes=free,
    )
