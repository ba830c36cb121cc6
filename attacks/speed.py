"""The speed check: sustained matrix-multiply throughput of a worker's device.

Lets an assessor compare workers (GPU against CPU) before planning long attack runs.
It reports progress and honours cancellation between batches, like every engine task.
"""

from __future__ import annotations

import time
from typing import Any

from attacks.context import RunContext, UserError


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    import torch

    duration = float(params.get("duration_s", 10))
    size = int(params.get("size", 512))
    if not 0.1 <= duration <= 3600:
        raise UserError("duration_s must be between 0.1 and 3600 seconds.")
    if not 16 <= size <= 8192:
        raise UserError("size must be between 16 and 8192.")

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    generator = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device)
    b = torch.randn(size, size, generator=generator).to(device)

    flops_per_matmul = 2 * size**3
    batch_times: list[float] = []
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < duration:
        ctx.check_cancel()
        batch_start = time.perf_counter()
        for _ in range(4):
            c = a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        batch_times.append(time.perf_counter() - batch_start)
        elapsed = time.perf_counter() - start
        ctx.progress(100 * min(elapsed / duration, 1.0), f"{len(batch_times)} batches, {elapsed:.1f} s")
    del c

    with (ctx.output_dir / "batch_times.csv").open("w") as out:
        out.write("batch,seconds\n")
        out.writelines(f"{i},{t:.6f}\n" for i, t in enumerate(batch_times))

    best = min(batch_times)
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU",
        "size": size,
        "batches": len(batch_times),
        "seconds": round(elapsed, 3),
        "gflops_best": round(4 * flops_per_matmul / best / 1e9, 2),
        "gflops_mean": round(4 * flops_per_matmul * len(batch_times) / sum(batch_times) / 1e9, 2),
    }
