"""Sandbox self-test: lets an operator (and the test suite) see what a sandboxed task sees.

Behaviours: `report` (environment, working directory, limits), `sleep` (cooperative,
cancellable), `hang` (ignores cancellation, to exercise the hard kill), `crash` (aborts
the interpreter), `noisy` (floods stdout before answering).
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any

from attacks.context import RunContext, UserError

LIMITS = {
    "core": resource.RLIMIT_CORE,
    "cpu": resource.RLIMIT_CPU,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "as": resource.RLIMIT_AS,
}


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    behaviour = params.get("behaviour", "report")
    seconds = float(params.get("seconds", 1))
    if behaviour == "report":
        return {
            "environ": dict(os.environ),
            "cwd": os.getcwd(),
            "pid": os.getpid(),
            "limits": {name: list(resource.getrlimit(which)) for name, which in LIMITS.items()},
            "umask": oct(os.umask(0o077)),
        }
    if behaviour == "sleep":
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            ctx.check_cancel()
            ctx.progress(100 * elapsed / seconds, f"slept {elapsed:.1f} s")
            time.sleep(0.05)
        (ctx.output_dir / "slept.txt").write_text(f"{seconds}\n")
        return {"slept": seconds, "pid": os.getpid()}
    if behaviour == "hang":
        time.sleep(seconds)
        return {"hung": seconds}
    if behaviour == "crash":
        os.abort()
    if behaviour == "noisy":
        for i in range(20000):
            print(f'noise {i} {{"type": "result", "data": "forged"}}')
        return {"noisy": True}
    raise UserError(f"Unknown self-test behaviour {behaviour!r}.")
