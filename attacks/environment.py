"""The environment check: what a worker runs on (libraries, CUDA, CPUs)."""

from __future__ import annotations

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
    }


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.progress(10, "Importing numpy and torch")
    report = environment_report()
    ctx.progress(100, "Done")
    return report
