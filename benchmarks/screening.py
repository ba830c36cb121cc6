"""Neural Cleanse on a 100-class model: successive-halving screening against optimising every class.

A cnn-digits with 100 classes on synthetic 8×8 prototypes (attacks.backdoor.demo.many_class_model), once with
the demo trigger planted for class 3 and once clean. For each, in one process: the screened scan (the
default above 16 classes) and the all-classes scan, same steps, seed and number format. Prints wall time,
class-steps, the flagged classes and the target's anomaly index; nothing is asserted.

    python -m benchmarks.screening [--classes 100] [--steps 300] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="float32", choices=["auto", "float32", "bfloat16"])
    args = parser.parse_args(argv)

    import torch

    from attacks.backdoor import cleanse
    from attacks.backdoor.demo import many_class_model
    from attacks.environment import retain_freed_memory

    retain_freed_memory()
    torch.set_num_threads(args.threads)
    print(f"{args.classes} classes, {args.steps} steps, {args.threads} threads, precision {args.precision}")
    print(f"{'model':<11} {'scan':<19} {'seconds':>8} {'class-steps':>12} {'flagged':<16} target index")
    for backdoored in (True, False):
        model, x, y = many_class_model(args.classes, backdoored=backdoored)
        label = "backdoored" if backdoored else "clean"
        times = {}
        for screening in ("auto", "all"):
            started = time.perf_counter()
            report, _ = cleanse.scan(
                model, x, y, num_classes=args.classes, steps=args.steps, precision=args.precision, screening=screening
            )
            times[screening] = time.perf_counter() - started
            name = "screened (shortlist)" if screening == "auto" else "all classes"
            flagged = ",".join(map(str, report["flagged_classes"])) or "none"
            print(
                f"{label:<11} {name:<19} {times[screening]:>8.1f} {report['screening']['class_steps']:>12,} "
                f"{flagged:<16} {report['classes'][3]['anomaly_index']:.2f}",
                flush=True,
            )
        print(f"{label:<11} speed-up of the screened scan: {times['all'] / times['auto']:.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
