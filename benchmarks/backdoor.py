"""Neural Cleanse: all classes in one batched optimisation vs one class at a time.

Builds the demo backdoored teacher (attacks.backdoor.demo), then reverses a trigger for each of its
10 classes with the same function, optimiser, learning rate, cost, steps, per-class batch size and
number format (`--precision`, default auto as in a scan: bfloat16 on CPUs with AMX or AVX-512 BF16): batched (one call
for all classes: K·B images per step, in passes of about cleanse.PASS_IMAGES) and class by class
(K calls of one class: B images per step). The two contenders alternate within one process,
`--repeats` times, and the medians are compared (wall times on a shared machine are noisy). A per-step
profile (batch construction, forward, backward, optimiser) of both follows. Printed, never asserted
(benchmarks/README.md).

    .venv/bin/python -m benchmarks.backdoor [--steps 600] [--repeats 3] [--threads N] [--profile-steps 40]
        [--precision auto|float32|bfloat16]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from typing import Any

import numpy as np

from benchmarks.timing import timed


def _profile(cleanse: Any, model: Any, x: np.ndarray, classes: list[int], steps: int, options: dict) -> None:
    """Milliseconds per step and share of each phase, for all classes at once and for a single class."""
    batch_size = options["batch_size"]
    for label, chosen in (("batched", classes), ("one class", classes[:1])):
        timings: dict[str, float] = {}
        _, total, _ = timed(
            lambda chosen=chosen, timings=timings: cleanse.reverse_triggers(
                model, x, chosen, **{**options, "steps": steps}, timings=timings
            )
        )
        phases = "  ".join(
            f"{name} {seconds / steps * 1e3:.2f} ({seconds / total:.0%})" for name, seconds in timings.items()
        )
        print(f"  {label:>9} ({len(chosen) * batch_size:3d} images/step): {total / steps * 1e3:6.2f} ms/step; {phases}")


def main(argv: list[str] | None = None) -> None:
    import torch

    from attacks.backdoor import cleanse
    from attacks.backdoor.demo import build_demo
    from attacks.environment import native_bfloat16, retain_freed_memory
    from attacks.loading import load_dataset, load_model

    parser = argparse.ArgumentParser(prog="python -m benchmarks.backdoor")
    parser.add_argument("--steps", type=int, default=cleanse.DEFAULT_STEPS)
    parser.add_argument("--batch-size", type=int, default=cleanse.DEFAULT_BATCH)
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each contender (median)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--profile-steps", type=int, default=40, help="steps of the per-phase profile (0: none)")
    parser.add_argument("--precision", default="auto", choices=cleanse.PRECISIONS, help="the network's number format")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    # As in a job's sandboxed process and `python -m attacks`; both contenders run under it.
    retained = retain_freed_memory()

    with tempfile.TemporaryDirectory() as tmp:
        demo = build_demo(tmp, seed=0)
        model = load_model(demo["paths"]["teacher"], demo["arch"], demo["num_classes"])
        x, _, _ = load_dataset(demo["paths"]["test"])
    x = x[:250]
    classes = list(range(demo["num_classes"]))
    precision = cleanse.resolve_precision(args.precision)
    print(
        f"torch threads {torch.get_num_threads()}; {args.steps} steps, {args.batch_size} images per class and step, "
        f"{args.repeats} alternating runs each; network in {precision} ({args.precision}; CPU "
        f"{torch.backends.cpu.get_cpu_capability()}, native bfloat16: {native_bfloat16()}); "
        f"malloc keeps freed memory: {retained}"
    )
    print(f"demo: target class {demo['target_class']}, attack success rates {demo['attack_success_rate']}")

    options = {"steps": args.steps, "batch_size": args.batch_size, "seed": 0, "precision": precision}

    def batched() -> np.ndarray:
        return cleanse.reverse_triggers(model, x, classes, **options).masks

    def one_at_a_time() -> np.ndarray:
        return np.concatenate([cleanse.reverse_triggers(model, x, [k], **options).masks for k in classes])

    contenders = {"batched": batched, "one at a time": one_at_a_time}
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    masks: dict[str, np.ndarray] = {}
    for repeat in range(args.repeats):
        # Alternate which contender goes first so that a burst of load on the machine hits both alike.
        order = list(contenders) if repeat % 2 == 0 else list(reversed(contenders))
        for name in order:
            masks[name], wall, cpu = timed(contenders[name])
            walls[name].append(wall)
            cpus[name].append(cpu)

    for name in contenders:
        norms = masks[name].reshape(len(classes), -1).sum(axis=1)
        index, flagged = cleanse.anomaly_indices(norms)
        print(
            f"{name:>14}: median {statistics.median(walls[name]):7.2f} s wall "
            f"(runs {', '.join(f'{s:.2f}' for s in walls[name])}), {statistics.median(cpus[name]):7.2f} s CPU  "
            f"flagged {np.flatnonzero(flagged).tolist()}  mask L1 {[round(float(n), 2) for n in norms]}  "
            f"max anomaly index {index.max():.2f}"
        )
    wall_ratio = statistics.median(walls["one at a time"]) / statistics.median(walls["batched"])
    cpu_ratio = statistics.median(cpus["one at a time"]) / statistics.median(cpus["batched"])
    difference = float(np.abs(masks["batched"] - masks["one at a time"]).max())
    print(f"max |mask difference| batched vs one at a time: {difference:.2e}")
    print(f"speed-up: {wall_ratio:.2f}x wall, {cpu_ratio:.2f}x CPU (target: at least 5x wall for 10 classes on CPU)")

    if args.profile_steps > 0:
        print(f"per-step profile ({args.profile_steps} steps; wall time of each phase, share of the run):")
        _profile(cleanse, model, x, classes, args.profile_steps, options)


if __name__ == "__main__":
    main()
