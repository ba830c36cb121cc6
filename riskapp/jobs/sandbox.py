"""The sandbox launcher: run one engine task in a fresh, limited subprocess.

The child is a new interpreter (`python -I`, never a fork of the worker, so CUDA works and
no worker state leaks in) with an empty environment, a private working directory that is
deleted afterwards, resource limits it sets on itself before touching any input, its own
process group, and death with its parent. It answers with JSON lines on a dedicated pipe;
its stdout and stderr go to a log whose tail explains a crash. A wall-clock deadline kills
the whole process group. This module does not import Django: the worker passes settings in.

Resource limits are isolation, not a security boundary: loaders must be safe on their own.

Starting an interpreter that imports torch (and timm, which imports torchvision) takes seconds.
With `warm=True` the launcher keeps one spare sandbox per worker process, started in advance and
already past those imports, with no input in view: a job takes it, receives copies of its input
files in its private folder, and runs; the spare is never reused, and a new one is started for the
next job. Every job still gets a fresh process that has never seen another job's files.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import logging
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attacks.progress import ProgressTick

log = logging.getLogger(__name__)

ENGINE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds the attacks package
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
LOG_TAIL_BYTES = 4000
PASSED_THROUGH = ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE")
# Inputs larger than this go to a freshly started sandbox, bound read-only in place, rather than
# being copied into a warm one: copying gigabytes would cost more than the imports it saves.
WARM_COPY_LIMIT_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class SandboxLimits:
    wall_seconds: float
    cpu_seconds: int = 0
    max_file_bytes: int = 4 * 1024**3
    max_open_files: int = 1024
    max_address_space_bytes: int = 0
    cancel_grace_seconds: float = 10.0


@dataclass
class SandboxOutcome:
    status: str  # succeeded | failed | cancelled | timed_out | abandoned
    result: dict[str, Any] | None = None
    error: str = ""
    user_error: bool = False
    output_files: list[Path] = field(default_factory=list)
    output_dir: Path | None = None
    log_tail: str = ""
    pid: int | None = None
    # It died without reporting (a signal, an exit code): out of memory, a native crash. Worth another attempt.
    crashed: bool = False
    warm: bool = False  # it ran in a sandbox started in advance (see the module's docstring)


class Tick:
    """What the launcher's caller answers on every tick: keep going, cancel, or abandon."""

    CONTINUE = "continue"
    CANCEL = "cancel"
    ABANDON = "abandon"  # the job is no longer ours (reclaimed or finished elsewhere): stop now


@functools.cache
def bwrap_available() -> bool:
    """Whether bubblewrap is installed and allowed to make namespaces here (containers may forbid it)."""
    binary = shutil.which("bwrap")
    if binary is None:
        return False
    probe = [
        binary,
        "--unshare-all",
        "--die-with-parent",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "true",
    ]
    return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0


def _bwrap_prefix(workdir: Path, hide: Sequence[Path], inputs: Sequence[Path] = ()) -> list[str]:
    """No network, own PID/IPC/UTS namespaces, a read-only root, the `hide` folders replaced by empty ones.

    The task writes only to its own folder (also its HOME and TMPDIR). The host's /tmp stays visible,
    read-only, because the interpreter or the code may live there; the sandbox base folder is hidden
    so that no job sees another's files.
    """
    command = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in hide:
        if Path(path).exists():
            command += ["--tmpfs", str(path)]
    for path in inputs:  # the job's own input files, back into view, read-only
        command += ["--ro-bind", str(path), str(path)]
    for device in sorted(glob.glob("/dev/nvidia*")):  # GPUs stay usable inside
        command += ["--dev-bind", device, device]
    return [*command, "--bind", str(workdir), str(workdir), "--chdir", str(workdir), "--"]


def _child_environment(workdir: Path) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    env.update({name: os.environ[name] for name in PASSED_THROUGH if name in os.environ})
    return env


def sweep_stale_workdirs(base_dir: Path) -> None:
    """Delete the private folders of launchers that died (a SIGKILLed worker cannot clean up)."""
    for path in base_dir.glob("riskapp-job-*-*"):
        try:
            pid = int(path.name.split("-")[2])
            os.kill(pid, 0)
        except ValueError:
            continue
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            continue


def _reap(proc: subprocess.Popen) -> None:
    """Kill the task's whole process group: the task itself and anything it left behind."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


@dataclass
class _Child:
    """One sandboxed interpreter, started and waiting for its spec on stdin."""

    proc: subprocess.Popen
    read_fd: int
    workdir: Path
    log_path: Path

    @property
    def output_dir(self) -> Path:
        return self.workdir / "out"

    @property
    def input_dir(self) -> Path:
        return self.workdir / "in"

    def close(self) -> None:
        _reap(self.proc)
        os.close(self.read_fd)
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _spawn(
    *, base_dir: Path, isolate: bool, hide: Sequence[Path], inputs: Sequence[Path], preload: Sequence[str]
) -> _Child:
    base_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    sweep_stale_workdirs(base_dir)
    workdir = Path(tempfile.mkdtemp(prefix=f"riskapp-job-{os.getpid()}-", dir=base_dir))
    (workdir / "out").mkdir()
    (workdir / "in").mkdir()
    log_path = workdir / "sandbox.log"
    read_fd, write_fd = os.pipe()
    bootstrap = (
        f"import sys; sys.path.insert(0, {str(ENGINE_ROOT)!r}); from attacks.runner import main; sys.exit(main())"
    )
    # Under bubblewrap the task has its own PID namespace: bwrap's --die-with-parent does the job.
    parent_pid = 0 if isolate else os.getpid()
    command = [sys.executable, "-I", "-c", bootstrap, "--result-fd", str(write_fd), "--parent-pid", str(parent_pid)]
    if preload:
        command += ["--preload", ",".join(preload)]
    if isolate:
        command = _bwrap_prefix(workdir, [*hide, base_dir], inputs) + command
    try:
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=_child_environment(workdir),
                pass_fds=(write_fd,),
                start_new_session=True,
            )
    except BaseException:
        os.close(read_fd)
        os.close(write_fd)
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    os.close(write_fd)
    return _Child(proc=proc, read_fd=read_fd, workdir=workdir, log_path=log_path)


# This worker process's spare sandbox, by the way it was started (isolation, folders, preloads).
_spares: dict[tuple, _Child] = {}


def _spare_key(base_dir: Path, isolate: bool, hide: Sequence[Path], preload: Sequence[str]) -> tuple:
    return (str(base_dir), isolate, tuple(str(path) for path in hide), tuple(preload))


def _take_spare(key: tuple) -> _Child | None:
    child = _spares.pop(key, None)
    if child is not None and child.proc.poll() is not None:  # it died while waiting (killed, out of memory)
        log.warning("the spare sandbox %s had exited (%s); starting a fresh one", child.proc.pid, child.proc.returncode)
        child.close()
        return None
    return child


def discard_spare_sandboxes() -> None:
    """Stop this process's spare sandboxes (worker shutdown, tests)."""
    while _spares:
        _spares.popitem()[1].close()


def prepare_spare_sandbox(
    *, base_dir: Path, isolate: bool = False, hide: Sequence[Path] = (), preload: Sequence[str] = ()
) -> None:
    """Start this process's spare sandbox now, if it has none, so the next job starts warm."""
    key = _spare_key(base_dir, isolate, hide, preload)
    if key not in _spares:
        _spares[key] = _spawn(base_dir=base_dir, isolate=isolate, hide=hide, inputs=(), preload=preload)


def _remap_paths(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, dict):
        return {key: _remap_paths(item, mapping) for key, item in value.items()}
    if isinstance(value, list):
        return [_remap_paths(item, mapping) for item in value]
    return value


def _hand_inputs(child: _Child, inputs: Sequence[Path], params: dict[str, Any]) -> dict[str, Any]:
    """Copy the job's input files into the spare's private folder; the parameters name the copies.

    A copy, not a link: the task may write in its folder, and must not be able to change the stored file.
    """
    mapping = {}
    for number, path in enumerate(inputs):
        target = child.input_dir / f"{number}-{Path(path).name}"
        shutil.copyfile(path, target)
        mapping[str(path)] = str(target)
    return _remap_paths(params, mapping)


def run_in_sandbox(
    *,
    task: str,
    params: dict[str, Any],
    limits: SandboxLimits,
    on_progress: Callable[[ProgressTick], None] | None = None,
    on_tick: Callable[[], str] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_finish: Callable[[SandboxOutcome], None] | None = None,
    base_dir: Path | None = None,
    tick_seconds: float = 1.0,
    isolate: bool = False,
    hide: Sequence[Path] = (),
    inputs: Sequence[Path] = (),
    warm: bool = False,
    preload: Sequence[str] = (),
    prepare: Callable[[Path], dict[str, Any]] | None = None,
) -> SandboxOutcome:
    """Run engine task `task` with `params`; return how it ended. Never raises for the task's faults.

    `on_tick` is called about every `tick_seconds` and answers a Tick value; `on_finish`
    receives the outcome, with the files the task wrote, before the private folder is deleted.
    With `isolate`, the task runs under bubblewrap (see bwrap_available): no network, a
    read-only file system, and the `hide` folders (the data directory) replaced by empty ones;
    only the `inputs` files are visible there again, read-only (or, in a warm sandbox, copies of
    them in its own folder). With `warm`, the task runs in this process's spare sandbox when it has
    one (its interpreter already past the `preload` imports), and a new spare is started afterwards.
    `prepare` is called with the task's work folder before the task starts, and returns parameters to add: a
    folder made there is one the task may write to, and it lasts until `on_finish` has returned.
    """
    base_dir = base_dir or Path(tempfile.gettempdir()) / "riskapp-sandbox"
    key = _spare_key(base_dir, isolate, hide, preload)
    child = None
    if warm and sum(Path(path).stat().st_size for path in inputs) <= WARM_COPY_LIMIT_BYTES:
        child = _take_spare(key)
    if child is not None and isolate:
        try:
            params = _hand_inputs(child, inputs, params)
        except OSError:
            child.close()
            raise
    started_warm = child is not None
    if child is None:
        child = _spawn(base_dir=base_dir, isolate=isolate, hide=hide, inputs=inputs, preload=())
    proc = child.proc
    try:
        if prepare is not None:
            params = {**params, **prepare(child.workdir)}
        spec = {
            "task": task,
            "params": params,
            "output_dir": str(child.output_dir),
            "limits": {
                "cpu_seconds": limits.cpu_seconds,
                "max_file_bytes": limits.max_file_bytes,
                "max_open_files": limits.max_open_files,
                "max_address_space_bytes": limits.max_address_space_bytes,
            },
        }
        if on_start is not None:
            on_start(proc.pid)
        try:
            proc.stdin.write((json.dumps(spec) + "\n").encode())
            proc.stdin.flush()
        except BrokenPipeError:  # it died before reading its spec: _supervise reports the crash
            pass
        outcome = _supervise(proc, child.read_fd, limits, on_progress, on_tick, tick_seconds)
        outcome.pid = proc.pid
        outcome.warm = started_warm
        _reap(proc)
        if outcome.status in ("failed", "timed_out") and not outcome.user_error:
            outcome.log_tail = _tail(child.log_path)
        outcome.output_dir = child.output_dir
        if outcome.status == "succeeded":
            outcome.output_files = sorted(p for p in child.output_dir.rglob("*") if p.is_file() and not p.is_symlink())
        if on_finish is not None:
            on_finish(outcome)
        return outcome
    finally:
        child.close()
        if warm:
            try:
                prepare_spare_sandbox(base_dir=base_dir, isolate=isolate, hide=hide, preload=preload)
            except OSError:
                log.exception("could not start a spare sandbox; the next job starts cold")


def _supervise(proc, read_fd, limits, on_progress, on_tick, tick_seconds) -> SandboxOutcome:
    deadline = time.monotonic() + limits.wall_seconds
    cancel_sent_at: float | None = None
    buffer = b""
    final: dict[str, Any] | None = None
    next_tick = time.monotonic() + tick_seconds
    with selectors.DefaultSelector() as selector:
        selector.register(read_fd, selectors.EVENT_READ)
        eof = False
        while not eof:
            now = time.monotonic()
            if now >= deadline:
                _reap(proc)
                return SandboxOutcome(
                    "timed_out",
                    error=f"The job ran past its time limit of {limits.wall_seconds:.0f} s and was stopped.",
                )
            if cancel_sent_at is not None and now - cancel_sent_at > limits.cancel_grace_seconds:
                _reap(proc)
                return SandboxOutcome("cancelled", error="Cancelled; the task did not stop in time and was killed.")
            if now >= next_tick:
                next_tick = now + tick_seconds
                decision = on_tick() if on_tick is not None else Tick.CONTINUE
                if decision == Tick.ABANDON:
                    _reap(proc)
                    return SandboxOutcome("abandoned", error="The job was taken over elsewhere; this run stopped.")
                if decision == Tick.CANCEL and cancel_sent_at is None:
                    cancel_sent_at = now
                    try:
                        proc.stdin.write(b'{"type": "cancel"}\n')
                        proc.stdin.flush()
                    except (BrokenPipeError, OSError):
                        pass
            timeout = max(0.0, min(next_tick, deadline) - time.monotonic())
            if not selector.select(timeout):
                continue
            chunk = os.read(read_fd, 65536)
            if not chunk:
                eof = True
            buffer += chunk
            if len(buffer) > MAX_MESSAGE_BYTES:
                _reap(proc)
                return SandboxOutcome("failed", error="The task's report exceeded the size limit.")
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                message = _parse(line)
                if message is None:
                    _reap(proc)
                    return SandboxOutcome("failed", error="The task sent a malformed report.")
                if message.get("type") == "progress" and on_progress is not None:
                    on_progress(ProgressTick.from_report(message))
                elif message.get("type") in ("result", "error", "cancelled"):
                    final = message
    try:
        returncode = proc.wait(timeout=max(1.0, min(30.0, deadline - time.monotonic())))
    except subprocess.TimeoutExpired:  # it closed its report pipe but did not exit
        _reap(proc)
        returncode = proc.returncode
    if final is None:
        reason = _exit_reason(returncode)
        return SandboxOutcome(
            "failed", error=f"The sandboxed task crashed ({reason}) before it reported a result.", crashed=True
        )
    if final["type"] == "result":
        data = final.get("data")
        return SandboxOutcome("succeeded", result=data if isinstance(data, dict) else {"value": data})
    if final["type"] == "cancelled":
        return SandboxOutcome("cancelled", error="Cancelled by request.")
    details = final.get("details")
    return SandboxOutcome(
        "failed",
        result=details if isinstance(details, dict) else None,  # what a refusal reports, e.g. a scan
        error=str(final.get("message", "")),
        user_error=bool(final.get("user_error")),
    )


def _exit_reason(returncode: int) -> str:
    # bubblewrap reports a child killed by signal N as exit code 128 + N, like a shell.
    number = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
    try:
        return f"signal {signal.Signals(number).name}"
    except ValueError:
        return f"exit code {returncode}"


def _parse(line: bytes) -> dict[str, Any] | None:
    if not line.strip():
        return {}
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None
