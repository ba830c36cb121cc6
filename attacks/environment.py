"""The environment check: what a worker runs on (libraries, CUDA, CPUs)."""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from importlib import metadata
from typing import Any

from attacks.context import RunContext


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def bfloat16_matrix_units() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (Intel AMX) and torch's oneDNN uses them.

    There, a bfloat16 matrix product runs at about 4× the float32 rate on one core; elsewhere bfloat16 is
    emulated and slower than float32."""
    import torch

    try:
        # Private helpers of torch.cpu (present in torch 2.x); a torch without them counts as no AMX.
        return bool(torch.cpu._is_amx_tile_supported() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 dot products natively: Intel AMX, or AVX-512 BF16 (Intel Cooper Lake and
    later, AMD Zen 4 and later), with torch's oneDNN using them.

    On an AVX-512 BF16 CPU without AMX (AMD EPYC, Zen 4) one forward + input gradient of a 224×224 ResNet-50 takes
    0.44× its float32 time in bfloat16, 0.29× channels-last (benchmarks/README.md, *bfloat16 gradients*); without
    either, bfloat16 is emulated and slower than float32."""
    import torch

    try:
        native = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
        return bool(native and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


PRECISIONS = ("auto", "float32", "bfloat16")


def resolve_precision(precision: str, device: Any = "cpu") -> str:
    """The number format an attack or scan takes its gradients in, for `precision` ("auto", "float32" or
    "bfloat16"): PGD's (attacks.evasion.target), Neural Cleanse's network (attacks.backdoor.cleanse) and the
    training attack of adversarial fine-tuning (attacks.hardening.training).

    "auto" is bfloat16 where the device computes it natively (a CUDA GPU that supports it; a CPU with AMX or
    AVX-512 BF16: `native_bfloat16`), float32 elsewhere, where bfloat16 would be emulated and slower. The verdicts
    match float32's: PGD's successes are judged by the float32 network, and tests/attacks/backdoor/test_cleanse.py
    and tests/attacks/evasion/test_precision.py hold the scans and attacks to float32's wherever bfloat16 runs."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision != "auto":
        return precision
    if str(device).startswith("cuda"):
        import torch

        # Native only (compute capability 8.0 and later): an older GPU emulates bfloat16, slower than float32.
        return "bfloat16" if torch.cuda.is_bf16_supported(including_emulation=False) else "float32"
    return "bfloat16" if native_bfloat16() else "float32"


# glibc's mallopt parameters, and the largest mmap threshold it accepts on 64-bit systems.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MAX_MMAP_THRESHOLD = 32 * 2**20


def retain_freed_memory() -> bool:
    """Make glibc's malloc keep freed blocks of up to 32 MiB for reuse instead of handing them back to the kernel.

    An optimisation step allocates and frees the same activation tensors (megabytes each) every step; by
    default glibc maps such blocks fresh and unmaps them when freed, so every step page-faults them in
    again (a convolution and the ReLU after it, 160 digits in bfloat16: 1.7 ms, 1.0 ms with this). The
    process holds on to what it freed, about its peak use, until it ends. Called once by the engine's
    entry points (a job's sandboxed process, `python -m attacks`, benchmarks), never by library
    functions. Returns whether malloc accepted it (False off glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, MAX_MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, 2**30))


def environment_report() -> dict[str, Any]:
    """Versions of the engine's libraries, the CUDA devices and the CPU count of this process."""
    import numpy
    import torch

    cuda = torch.cuda.is_available()
    devices = []
    if cuda:
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            devices.append({"index": index, "name": props.name, "memory_gib": round(props.total_memory / 1024**3, 1)})
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda_build": torch.version.cuda,
        "adversarial_robustness_toolbox": _version("adversarial-robustness-toolbox"),
        "numpy": numpy.__version__,
        "cuda_available": cuda,
        "cuda_device_count": len(devices),
        "cuda_devices": devices,
        "device_name": devices[0]["name"] if devices else "CPU",
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bfloat16_matrix_units": bfloat16_matrix_units(),
        "cpu_bfloat16_native": native_bfloat16(),
    }


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.progress(10, "Importing numpy and torch")
    report = environment_report()
    ctx.progress(100, "Done")
    return report
