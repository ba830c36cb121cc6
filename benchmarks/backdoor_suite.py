"""Neural Cleanse on the trojan suite (attacks.backdoor.trojans): planted targets found, false alarms, time per model.

Each model of the suite is trained, then scanned with `cleanse.scan` on its clean held-out images, with the
scan's defaults (steps, cost schedule, restarts, natural-shortcut check). A live target (its trigger still sends
at least half of the other classes' test images there) must be flagged; any flagged class that is not a planted
target is a false alarm. A target whose backdoor did not survive (the all-layer student) may be flagged or not.
Printed, never asserted (benchmarks/README.md).

    .venv/bin/python -m benchmarks.backdoor_suite [--only NAME ...] [--steps N] [--seed S] [--cache DIR]
        [--cost-schedule adaptive|fixed] [--restarts R] [--save FILE]

`--cache DIR` keeps the trained models (with their measured accuracy and attack success) in DIR, so that two
versions of the scan can be compared on the very same models. `--save FILE` appends one JSON line per model
(its per-class mask norms, anomaly indices, natural-shortcut rates and the scan's flags), written as each model
finishes, so that flagging rules can be compared offline without repeating the optimisation.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

LIVE_SUCCESS = 0.5


def _cached(spec: Any, directory: str) -> Any:
    """The suite model of `spec`, trained once and kept in `directory` (this benchmark's own files)."""
    import torch

    from attacks.architectures import build
    from attacks.backdoor import trojans

    path = Path(directory) / f"{spec.name}.pt"
    if path.exists():
        saved = torch.load(path, weights_only=True)
        model = build(spec.arch, trojans.NUM_CLASSES)
        model.load_state_dict(saved["weights"])
        model.eval().requires_grad_(False)
        success = dict(zip(saved["targets"].tolist(), saved["success"].tolist(), strict=True))
        x, y = saved["x_test"].numpy(), saved["y_test"].numpy()
        return trojans.SuiteModel(spec, model, x, y, float(saved["accuracy"]), success)
    built = trojans.build(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = {
        "weights": built.model.state_dict(),
        "x_test": torch.from_numpy(built.x_test),
        "y_test": torch.from_numpy(built.y_test),
        "accuracy": torch.tensor(built.clean_accuracy),
        "targets": torch.tensor(list(built.attack_success), dtype=torch.int64),
        "success": torch.tensor(list(built.attack_success.values()), dtype=torch.float64),
    }
    torch.save(saved, path)
    return built


def _save(path: str, spec: Any, live: list[int], report: dict[str, Any], seconds: float) -> None:
    """Append `spec`'s scan to the JSON-lines file `path`: enough to re-apply any flagging rule offline."""
    keys = (
        "mask_l1",
        "anomaly_index",
        "natural_success_rate",
        "natural_shortcut",
        "trigger_success_rate",
        "weak_trigger",
    )
    line = {
        "model": spec.name,
        "planted": spec.planted,
        "live": live,
        "flagged": report["flagged_classes"],
        "rule": report.get("rule"),
        "steps": report["steps"],
        "cost_schedule": report["cost_schedule"],
        "restarts": report["restarts"],
        "seconds": round(seconds, 1),
        **{key: [c[key] for c in report["classes"]] for key in keys},
    }
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def main(argv: list[str] | None = None) -> None:
    import torch

    from attacks.backdoor import cleanse, trojans
    from attacks.backdoor.common import FIXED_THREADS, fixed_threads

    parser = argparse.ArgumentParser(prog="python -m benchmarks.backdoor_suite")
    parser.add_argument("--only", nargs="*", default=None, help="suite models by name (default: all)")
    parser.add_argument("--steps", type=int, default=cleanse.DEFAULT_STEPS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default="", help="directory keeping the trained models between runs")
    parser.add_argument("--cost-schedule", choices=cleanse.COST_SCHEDULES, default=cleanse.DEFAULT_COST_SCHEDULE)
    parser.add_argument("--restarts", type=int, default=cleanse.DEFAULT_RESTARTS)
    parser.add_argument("--save", default="", help="append one JSON line per model (per-class norms) to this file")
    args = parser.parse_args(argv)
    specs = [trojans.BY_NAME[name] for name in args.only] if args.only else list(trojans.SUITE)
    print(
        f"torch threads {FIXED_THREADS} (training and scans, so the table does not move with the machine's "
        f"thread setting; the process has {torch.get_num_threads()}); "
        f"{args.steps} Neural Cleanse steps; cost schedule "
        f"{args.cost_schedule}; restarts {args.restarts}; {len(specs)} models"
    )
    print(f"{'model':<24} {'planted':<8} {'live':<8} {'flagged':<10} {'found':<6} {'false':<6} {'scan s':>7}")
    found = live_total = false_alarms = clean_flagged = clean_models = 0
    seconds = []
    for spec in specs:
        built = _cached(spec, args.cache) if args.cache else trojans.build(spec)
        live = sorted(k for k, rate in built.attack_success.items() if rate >= LIVE_SUCCESS)
        began = time.perf_counter()
        with fixed_threads():
            report, _ = cleanse.scan(
                built.model,
                built.x_test,
                built.y_test,
                num_classes=10,
                steps=args.steps,
                seed=args.seed,
                cost_schedule=args.cost_schedule,
                restarts=args.restarts,
            )
        seconds.append(time.perf_counter() - began)
        if args.save:
            _save(args.save, spec, live, report, seconds[-1])
        flagged = report["flagged_classes"]
        hits = [k for k in live if k in flagged]
        false = [k for k in flagged if k not in spec.planted]
        found, live_total, false_alarms = found + len(hits), live_total + len(live), false_alarms + len(false)
        if not spec.targets:
            clean_models += 1
            clean_flagged += bool(flagged)
        print(
            f"{spec.name:<24} {','.join(map(str, spec.planted)) or '-':<8} {','.join(map(str, live)) or '-':<8} "
            f"{','.join(map(str, flagged)) or '-':<10} {len(hits)}/{len(live):<4} {len(false):<6} {seconds[-1]:7.1f}",
            flush=True,
        )
    print(
        f"live targets found {found} of {live_total}; false alarms {false_alarms} (clean models flagged "
        f"{clean_flagged} of {clean_models}); median scan {sorted(seconds)[len(seconds) // 2]:.1f} s per model"
    )


if __name__ == "__main__":
    main()
