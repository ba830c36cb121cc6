"""The sandboxed side of a job: run one engine task and report over a pipe as JSON lines.

Started by riskapp's sandbox launcher as a fresh interpreter (never a fork of the worker),
with an empty environment, a private working directory and its own process group. It reads
one JSON spec line on stdin, later lines on stdin may ask it to cancel, and it writes JSON
lines to the result file descriptor: progress, then one of result / error / cancelled.
Nothing is ever unpickled on either side.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import json
import math
import os
import resource
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from attacks.context import Cancelled, RunContext, UserError
from attacks.progress import ProgressTick

PROGRESS_EVERY_S = 0.2


def _die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL us if the worker process that started us dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the launcher's wall-clock kill still applies
        pass
    if parent_pid and os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(70)


def apply_limits(limits: dict[str, int]) -> None:
    """Lower soft and hard limits together, so the task cannot raise them again."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    pairs = {
        "cpu_seconds": resource.RLIMIT_CPU,
        "max_file_bytes": resource.RLIMIT_FSIZE,
        "max_open_files": resource.RLIMIT_NOFILE,
        "max_address_space_bytes": resource.RLIMIT_AS,
    }
    for key, which in pairs.items():
        value = int(limits.get(key) or 0)
        if value > 0:
            _, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value))


def json_safe(value: Any) -> Any:
    """NaN and infinities are not JSON: report them as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


class _Reporter:
    def __init__(self, stream) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._last_progress = 0.0

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(json_safe(message), allow_nan=False)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def progress(self, percent: float, text: str) -> None:
        now = time.monotonic()
        if percent < 100 and now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        self.send(ProgressTick(percent, text).to_report())


def _watch_for_cancel(cancel: threading.Event) -> None:
    for line in sys.stdin:
        try:
            if json.loads(line).get("type") == "cancel":
                cancel.set()
        except (ValueError, AttributeError):
            continue
    # stdin closed: the launcher is gone or done with us.
    cancel.set()


def preload(modules) -> None:
    """Import trusted modules ahead of the spec, while no input is in view; a missing one is only logged."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as error:
            print(f"preload: {name} not imported ({error})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attacks.runner")
    parser.add_argument("--result-fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True, help="0 when a PID namespace hides it")
    parser.add_argument(
        "--preload", default="", help="comma-separated modules to import before waiting for the spec (a warm sandbox)"
    )
    args = parser.parse_args(argv)

    _die_with_parent(args.parent_pid)
    os.umask(0o077)
    preload(filter(None, args.preload.split(",")))
    reporter = _Reporter(os.fdopen(args.result_fd, "w", encoding="utf-8"))
    try:
        spec = json.loads(sys.stdin.readline())
        apply_limits(spec.get("limits", {}))
        from attacks.environment import retain_freed_memory
        from attacks.tasks import TASKS

        retain_freed_memory()

        task = TASKS[spec["task"]]
    except Exception as error:  # a malformed spec is the launcher's bug, reported as such
        reporter.send({"type": "error", "message": f"Bad sandbox spec: {error!r}", "user_error": False})
        return 2

    cancel = threading.Event()
    threading.Thread(target=_watch_for_cancel, args=(cancel,), daemon=True).start()
    ctx = RunContext(output_dir=Path(spec["output_dir"]), on_progress=reporter.progress, cancel_event=cancel)
    try:
        result = task(ctx, spec.get("params", {}))
    except Cancelled:
        reporter.send({"type": "cancelled"})
        return 0
    except UserError as error:
        reporter.send({"type": "error", "message": str(error), "user_error": True, "details": error.details})
        return 1
    except Exception as error:
        traceback.print_exc()
        reporter.send({"type": "error", "message": f"{type(error).__name__}: {error}", "user_error": False})
        return 1
    reporter.send({"type": "result", "data": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
