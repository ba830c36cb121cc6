"""Neural Cleanse: all classes in one batched optimisation vs one class at a time.

Builds the demo backdoored teacher (attacks.backdoor.demo), then reverses a trigger for each of its
10 classes twice, with the same optimiser, learning rate, cost, steps and per-class batch size:
once batched (K·B images per step) and once class by class (B images per step, K runs). Prints wall
times, the speed-up and the flagged classes of both. Printed, never asserted (benchmarks/README.md).

    .venv/bin/python -m benchmarks.backdoor [--steps 600]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def main(argv: list[str] | None = None) -> None:
    import torch

    from attacks.backdoor import cleanse
    from attacks.backdoor.demo import build_demo
    from attacks.loading import load_dataset, load_model

    parser = argparse.ArgumentParser(prog="python -m benchmarks.backdoor")
    parser.add_argument("--steps", type=int, default=cleanse.DEFAULT_STEPS)
    parser.add_argument("--batch-size", type=int, default=cleanse.DEFAULT_BATCH)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        demo = build_demo(tmp, seed=0)
        model = load_model(demo["paths"]["teacher"], demo["arch"], demo["num_classes"])
        x, _, _ = load_dataset(demo["paths"]["test"])
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    x = x[:250]
    classes = list(range(demo["num_classes"]))
    print(f"torch threads {torch.get_num_threads()}; {args.steps} steps, {args.batch_size} images per class and step")
    print(f"demo: target class {demo['target_class']}, attack success rates {demo['attack_success_rate']}")

    options = {"steps": args.steps, "batch_size": args.batch_size, "seed": 0}
    started = time.perf_counter()
    batched = cleanse.reverse_triggers(model, x, classes, **options)
    batched_s = time.perf_counter() - started

    started = time.perf_counter()
    singles = [cleanse.reverse_triggers(model, x, [k], **options) for k in classes]
    loop_s = time.perf_counter() - started
    loop_norms = np.array([single.norms[0] for single in singles])

    for name, norms, seconds in (("batched", batched.norms, batched_s), ("one at a time", loop_norms, loop_s)):
        index, flagged = cleanse.anomaly_indices(norms)
        print(
            f"{name:>14}: {seconds:7.2f} s  flagged {np.flatnonzero(flagged).tolist()}  "
            f"mask L1 {[round(float(n), 2) for n in norms]}  max anomaly index {index.max():.2f}"
        )
    print(f"speed-up: {loop_s / batched_s:.1f}x (target: at least 5x for 10 classes on CPU)")


if __name__ == "__main__":
    main()
