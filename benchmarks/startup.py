"""A job sandbox's start-up, before and after the library stack (torch 2.14.1 + torchvision + timm + transformers).

Every job runs in a fresh interpreter (untrusted files are never loaded twice in one process), so
what that interpreter imports before the task starts is paid by every job. Measured side by side,
alternating, in one run:

- the sandbox's whole round trip for the `environment` task (spawn, imports, the task, the
  result back over the pipe), with this project's interpreter and, with `--before PYTHON`, an
  interpreter of an environment that has the previous stack (torch 2.13.0 alone);
- `import torch` in a fresh isolated interpreter, with both;
- the library imports a job on a library model adds: torchvision, timm, transformers' image classifiers;
- a job started cold against one started in a warm spare sandbox (RISKAPP_SANDBOX_WARM, preloaded with
  the engine and timm), for the `environment` task and for the intake of a timm/resnet18 checkpoint
  (45 MB, copied into the warm sandbox), under bubblewrap where it works, as a worker runs them.

    python -m benchmarks.startup [--rounds 5] [--before /path/to/other/venv/bin/python]

Prints medians and the ratios after / before; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# measure -> (the module the interpreter must have, the code timed)
IMPORTS = {
    "import torch": ("torch", "import torch"),
    "+ torchvision": ("torchvision", "import torch, torchvision.models"),
    "+ timm": ("timm", "import timm"),
    "+ transformers ViT": ("transformers", "from transformers import ViTForImageClassification"),
}


def _fresh(python: str, code: str) -> float:
    started = time.perf_counter()
    subprocess.run([python, "-I", "-c", code], check=True, cwd=ROOT, capture_output=True)
    return time.perf_counter() - started


def _sandbox_round_trip(python: str) -> float:
    """run_in_sandbox for the environment task, launched with `python` as the job's interpreter."""
    code = (
        "import sys, time, tempfile\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from pathlib import Path\n"
        "from riskapp.jobs.sandbox import SandboxLimits, run_in_sandbox\n"
        "started = time.perf_counter()\n"
        "outcome = run_in_sandbox(task='environment', params={}, limits=SandboxLimits(wall_seconds=300),\n"
        "                         base_dir=Path(tempfile.mkdtemp()))\n"
        "assert outcome.status == 'succeeded', outcome\n"
        "print(time.perf_counter() - started)\n"
    )
    out = subprocess.run([python, "-c", code], check=True, cwd=ROOT, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


WARM_PRELOAD = ("attacks.tasks", "timm")


def _wait_until_idle(pid: int, settle_s: float = 1.0, limit_s: float = 120.0) -> None:
    """Wait until the spare has finished its imports: the CPU time of its process tree stops growing."""
    import psutil  # with locust, in the dev requirements

    def cpu() -> float:
        root = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])

    deadline, last = time.monotonic() + limit_s, -1.0
    while time.monotonic() < deadline and (now := cpu()) != last:
        last = now
        time.sleep(settle_s)


def _warm_against_cold(rounds: int) -> dict[str, tuple[float, float]]:
    """Median seconds (cold, warm) of a job's round trip, by task, in this process as a worker runs it."""
    from riskapp.jobs import sandbox

    isolate = sandbox.bwrap_available()
    times: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        data.mkdir()
        checkpoint = data / "resnet18.pt"
        code = (
            f"import sys, torch; sys.path.insert(0, {str(ROOT)!r}); from attacks.architectures import build; "
            f"torch.manual_seed(0); torch.save(build('timm/resnet18', 10).state_dict(), {str(checkpoint)!r})"
        )
        subprocess.run([sys.executable, "-I", "-c", code], check=True)
        jobs = {
            "environment task": ("environment", {}, []),
            "intake of a timm/resnet18 checkpoint": (
                "intake",
                {"path": str(checkpoint), "kind": "model", "arch": "timm/resnet18", "num_classes": 10},
                [checkpoint],
            ),
        }
        base = Path(folder) / "sandboxes"
        common = {"base_dir": base, "isolate": isolate, "hide": [data], "preload": WARM_PRELOAD}
        for _ in range(rounds):
            for name, (task, params, inputs) in jobs.items():
                for mode in ("cold", "warm"):
                    if mode == "warm":
                        sandbox.prepare_spare_sandbox(**common)
                        (spare,) = sandbox._spares.values()
                        _wait_until_idle(spare.proc.pid)  # the pause between two jobs on a worker
                    started = time.perf_counter()
                    outcome = sandbox.run_in_sandbox(
                        task=task,
                        params=params,
                        limits=sandbox.SandboxLimits(wall_seconds=300),
                        inputs=inputs,
                        warm=mode == "warm",
                        **common,
                    )
                    elapsed = time.perf_counter() - started
                    assert outcome.status == "succeeded", (outcome.error, outcome.log_tail)
                    assert outcome.warm == (mode == "warm")
                    times.setdefault(name, {}).setdefault(mode, []).append(elapsed)
                    sandbox.discard_spare_sandboxes()
    print(f"warm against cold ({'under bubblewrap' if isolate else 'without bubblewrap'}, median of {rounds}):")
    return {name: (statistics.median(t["cold"]), statistics.median(t["warm"])) for name, t in times.items()}


def _has(python: str, module: str) -> bool:
    return subprocess.run([python, "-I", "-c", f"import {module}"], cwd=ROOT, capture_output=True).returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", help="an interpreter with the previous stack (torch 2.13.0, no torchvision)")
    args = parser.parse_args(argv)
    pythons = {"after": sys.executable}
    if args.before:
        pythons["before"] = args.before
    versions = {
        label: subprocess.run(
            [python, "-I", "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True, check=True
        ).stdout.strip()
        for label, python in pythons.items()
    }
    print("interpreters: " + ", ".join(f"{label} = torch {version}" for label, version in versions.items()))
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory():
        for python in pythons.values():  # a first, uncounted pass warms the page cache
            _fresh(python, "import torch")
        for _ in range(args.rounds):
            for label, python in pythons.items():  # alternate, so a slow minute hits both
                times.setdefault(("sandbox round trip (environment task)", label), []).append(
                    _sandbox_round_trip(python)
                )
                for name, (module, code) in IMPORTS.items():
                    if _has(python, module):
                        times.setdefault((name, label), []).append(_fresh(python, code))
    rows = sorted({name for name, _ in times}, key=lambda n: (n != "sandbox round trip (environment task)", n))
    print(f"{'measure':<40} " + " ".join(f"{label:>12}" for label in pythons) + "   after/before")
    for name in rows:
        medians = {label: statistics.median(times[(name, label)]) for label in pythons if (name, label) in times}
        cells = " ".join(f"{medians[label]:>11.2f}s" if label in medians else f"{'—':>12}" for label in pythons)
        ratio = f"{medians['after'] / medians['before']:.2f}×" if {"after", "before"} <= set(medians) else ""
        print(f"{name:<40} {cells}   {ratio}")
    for name, (cold, warm) in _warm_against_cold(args.rounds).items():
        print(f"  {name:<40} cold {cold:6.2f}s   warm {warm:6.2f}s   warm/cold {warm / cold:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
