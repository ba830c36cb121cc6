"""Sandbox self-test: lets an operator (and the test suite) see what a sandboxed task sees.

Behaviours: `report` (environment, working directory, limits, whether the given `connect`
addresses answer and the `list` folders show anything, the text of the `read` files and
whether it could overwrite them, and which of `modules` were already imported), `sleep` (cooperative,
cancellable), `hang` (ignores cancellation, to exercise the hard kill), `crash` (aborts
the interpreter), `noisy` (floods stdout before answering).
"""

from __future__ import annotations

import os
import resource
import socket
import sys
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


def _can_connect(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _can_list(path: str) -> bool:
    try:
        return bool(os.listdir(path))
    except OSError:
        return False


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(200)
    except OSError:
        return None


def _can_overwrite(path: str) -> bool:
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("changed by the task")
        return True
    except OSError:
        return False


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    behaviour = params.get("behaviour", "report")
    seconds = float(params.get("seconds", 1))
    if behaviour == "report":
        return {
            "can_connect": [_can_connect(host, int(port)) for host, port in params.get("connect", [])],
            "can_list": [_can_list(path) for path in params.get("list", [])],
            "read": [_read(path) for path in params.get("read", [])],
            "can_overwrite": [_can_overwrite(path) for path in params.get("overwrite", [])],
            "imported": [name in sys.modules for name in params.get("modules", [])],
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
