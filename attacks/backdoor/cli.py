"""The backdoor subcommands of `python -m attacks`: backdoor-scan, strip, data-scan, lineage.

Each scans its input files first (the command line loads them in this process, with no sandbox), runs
the engine task and prints text, or with --json the task's versioned document.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attacks.context import RunContext

EXIT_OK, EXIT_FAILED = 0, 1


def _files_accepted(files: list[tuple[Path, str]], max_bytes: int, as_json: bool) -> bool:
    from attacks.cli import _print_scan
    from attacks.scan import scan_file

    for path, kind in files:
        report = scan_file(path, max_bytes=max_bytes, expect=kind)
        if not report.accepted:
            print(f"{path}:", file=sys.stderr)
            _print_scan(report, as_json)
            return False
    return True


def _run_task(task: Callable, params: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from attacks.cli import _progress_printer

    def execute(folder: Path) -> dict[str, Any]:
        ctx = RunContext(output_dir=folder, on_progress=_progress_printer(args.json), cancel_event=threading.Event())
        return task(ctx, params)

    if args.output is not None:
        args.output.mkdir(parents=True, exist_ok=True)
        result = execute(args.output)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = execute(Path(tmp))
    if not args.json:
        print(file=sys.stderr)
    return result


def _summary(result: dict[str, Any], keys: list[str]) -> None:
    for key in keys:
        value = result.get(key)
        print(f"{key:<22}  {json.dumps(value) if isinstance(value, dict | list) else value}")


def _common_params(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "arch": args.arch,
        "num_classes": args.classes,
        "seed": args.seed,
        "sample_limit": args.limit,
        "preprocessing": args.preprocessing,
    }


def _backdoor_scan(args: argparse.Namespace) -> int:
    from attacks.backdoor import cleanse

    if not _files_accepted([(args.model, "model"), (args.data, "dataset")], args.max_bytes, args.json):
        return EXIT_FAILED
    params = {**_common_params(args), "model_path": str(args.model), "data_path": str(args.data)}
    params.update(steps=args.steps, batch_size=args.batch_size, precision=args.precision, screening=args.screening)
    params.update(cost_schedule=args.cost_schedule, restarts=args.restarts)
    result = _run_task(cleanse.run, params, args)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return EXIT_OK
    _summary(result, ["schema", "flagged_classes", "backdoor_suspected", "median_mask_l1", "seconds"])
    print("class  mask L1  anomaly index  flagged  trigger success")
    for entry in result["classes"]:
        print(
            f"{entry['class']:>5}  {entry['mask_l1']:7.2f}  {entry['anomaly_index']:13.2f}  "
            f"{'yes' if entry['flagged'] else 'no':>7}  {entry['trigger_success_rate']:15.3f}"
        )
    return EXIT_OK


def _strip(args: argparse.Namespace) -> int:
    from attacks.backdoor import strip

    files = [(args.model, "model"), (args.data, "dataset")] + ([(args.suspect, "dataset")] if args.suspect else [])
    if not _files_accepted(files, args.max_bytes, args.json):
        return EXIT_FAILED
    params = {**_common_params(args), "model_path": str(args.model), "data_path": str(args.data)}
    params.update(suspect_path=str(args.suspect) if args.suspect else None, overlays=args.overlays, fpr=args.fpr)
    result = _run_task(strip.run, params, args)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return EXIT_OK
    suspect = dict(result["suspect"] or {})
    suspect.pop("flagged_indices", None)
    _summary({**result, "suspect": suspect or None}, ["schema", "threshold", "clean", "suspect", "seconds"])
    return EXIT_OK


def _data_scan(args: argparse.Namespace) -> int:
    from attacks.backdoor import datascan

    if not _files_accepted([(args.model, "model"), (args.data, "dataset")], args.max_bytes, args.json):
        return EXIT_FAILED
    params = {"arch": args.arch, "num_classes": args.classes, "seed": args.seed, "preprocessing": args.preprocessing}
    params.update(model_path=str(args.model), data_path=str(args.data), expected_poison=args.expected_poison)
    result = _run_task(datascan.run, params, args)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return EXIT_OK
    _summary(result, ["schema", "suspected_classes", "most_suspicious_class", "evaluation", "seconds"])
    print("class  AC cluster sizes  silhouette  anomaly index  AC flagged  SS flagged")
    for entry in result["classes"]:
        ac, ss = entry["activation_clustering"], entry["spectral_signatures"]
        print(
            f"{entry['class']:>5}  {str(ac['cluster_sizes']):>16}  {ac['silhouette']:10.3f}  "
            f"{ac['anomaly_index']:13.2f}"
            f"  {len(ac['flagged_indices']):10d}  {len(ss['flagged_indices']):10d}"
        )
    return EXIT_OK


def _lineage(args: argparse.Namespace) -> int:
    from attacks.backdoor import lineage

    files = [(args.teacher, "model"), (args.student, "model"), (args.data, "dataset")]
    if not _files_accepted(files, args.max_bytes, args.json):
        return EXIT_FAILED
    params = {**_common_params(args), "teacher_path": str(args.teacher), "student_path": str(args.student)}
    params["teacher_preprocessing"] = params["student_preprocessing"] = params.pop("preprocessing")
    params.update(
        data_path=str(args.data),
        steps=args.steps,
        batch_size=args.batch_size,
        precision=args.precision,
        screening=args.screening,
        cost_schedule=args.cost_schedule,
        restarts=args.restarts,
    )
    result = _run_task(lineage.run, params, args)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return EXIT_OK
    _summary(result, ["schema", "verdict", "inherited_classes", "frozen_layers", "seconds"])
    for line in result["evidence"]:
        print(f"  - {line}")
    for entry in result["layers"]:
        print(f"  {entry['layer']:<24} {entry['relative_change']:10.6f}  {entry['status']}")
    return EXIT_OK


def _shared_options(parser: argparse.ArgumentParser, *, model: bool = True) -> None:
    from attacks.cli import DEFAULT_MAX_BYTES

    if model:
        parser.add_argument(
            "--model",
            type=Path,
            required=True,
            help="safetensors / state_dict .pt weights, or a Hugging Face model folder zip",
        )
    from attacks.cli import add_model_options

    add_model_options(parser, required=True)
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help="size limit for every file")
    parser.add_argument("--output", type=Path, help="folder to keep output files in (trigger PNGs)")
    parser.add_argument("--json", action="store_true", help="print the versioned JSON document")


def _cleanse_options(parser: argparse.ArgumentParser) -> None:
    from attacks.backdoor.cleanse import (
        COST_SCHEDULES,
        DEFAULT_BATCH,
        DEFAULT_COST_SCHEDULE,
        DEFAULT_RESTARTS,
        DEFAULT_STEPS,
        SCREEN_ABOVE,
        SCREEN_CHOICES,
    )
    from attacks.cli import add_precision_option

    parser.add_argument(
        "--steps", type=int, default=DEFAULT_STEPS, help=f"optimisation steps (default {DEFAULT_STEPS})"
    )
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="clean images per class and step")
    parser.add_argument("--limit", type=int, default=1000, help="use at most this many samples (0: all)")
    add_precision_option(parser, "the network while reversing triggers")
    parser.add_argument(
        "--screening",
        choices=SCREEN_CHOICES,
        default="auto",
        help=f"auto: above {SCREEN_ABOVE} classes, screen them by successive halving and fully optimise a "
        "shortlist; all: every class for every step",
    )
    parser.add_argument(
        "--cost-schedule",
        choices=COST_SCHEDULES,
        default=DEFAULT_COST_SCHEDULE,
        help="fixed (default): a constant weight of the mask; adaptive: the mask's weight per class rises while "
        "its trigger works and falls when it stops",
    )
    parser.add_argument(
        "--restarts",
        type=int,
        default=DEFAULT_RESTARTS,
        help=f"starting points per class, the smallest working trigger kept (default {DEFAULT_RESTARTS}, at most 8)",
    )


def add_commands(commands: Any) -> None:
    """Register the backdoor subcommands on `python -m attacks`'s subparsers."""
    scan = commands.add_parser("backdoor-scan", help="Neural Cleanse over every class (riskapp.backdoor-scan/1).")
    _shared_options(scan)
    scan.add_argument(
        "--data", type=Path, required=True, help="clean .npz (x, y) or image-folder zip to reverse triggers on"
    )
    _cleanse_options(scan)
    scan.set_defaults(handler=_backdoor_scan)

    strip = commands.add_parser("strip", help="STRIP entropy test of inputs (riskapp.strip/1).")
    _shared_options(strip)
    strip.add_argument(
        "--data", type=Path, required=True, help="clean .npz or image-folder zip: overlays and calibration"
    )
    strip.add_argument("--suspect", type=Path, help=".npz of inputs to test (poison_mask marks the triggered ones)")
    strip.add_argument("--overlays", type=int, default=20, help="blends per input (default 20)")
    strip.add_argument("--fpr", type=float, default=0.01, help="false-positive rate on clean data (default 0.01)")
    strip.add_argument("--limit", type=int, default=1000, help="score at most this many inputs per set (0: all)")
    strip.set_defaults(handler=_strip)

    data = commands.add_parser("data-scan", help="Activation clustering + spectral signatures (riskapp.data-scan/1).")
    _shared_options(data)
    data.add_argument(
        "--data", type=Path, required=True, help="training .npz (x, y, optional poison_mask) or image-folder zip"
    )
    data.add_argument("--expected-poison", type=float, default=0.33, help="spectral signatures' ε (default 0.33)")
    data.set_defaults(handler=_data_scan)

    lineage = commands.add_parser("lineage", help="Did a student inherit its teacher's backdoor (riskapp.lineage/1).")
    _shared_options(lineage, model=False)
    lineage.add_argument("--teacher", type=Path, required=True, help="teacher weights")
    lineage.add_argument("--student", type=Path, required=True, help="student weights (same architecture)")
    lineage.add_argument("--data", type=Path, required=True, help="clean .npz (x, y) or image-folder zip")
    _cleanse_options(lineage)
    lineage.set_defaults(handler=_lineage)
