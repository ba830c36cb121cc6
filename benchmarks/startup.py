"""A job sandbox's start-up, before and after the library stack (torch 2.14.1 + torchvision + timm + transformers).

Every job runs in a fresh interpreter (untrusted files are never loaded twice in one process), so
what that interpreter imports before the task starts is paid by every job. Measured side by side,
alternating, in one run:

- the sandbox's whole round trip for the `environment` task (spawn, imports, the task, the
  result back over the pipe), with this project's interpreter and, with `--before PYTHON`, an
  interpreter of an environment that has the previous stack (torch 2.13.0 alone);
- `import torch` in a fresh isolated interpreter, with both;
- the library imports a job on a library model adds: torchvision, timm, transformers' image classifiers.

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
