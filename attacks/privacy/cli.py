"""The privacy subcommands of `python -m attacks`: membership-inference and extraction.

Each scans its input files first (the command line loads them in this process, with no sandbox), runs the engine
task and prints text, or with --json the task's versioned document.
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
NOT_TESTED = (
    "Model inversion is not tested: riskapp has no reconstruction attack for image classifiers whose success it "
    "can measure, and says so rather than report one (docs/privacy.md)."
)


def _run(task: Callable, params: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from attacks.cli import _progress_printer

    with tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext(output_dir=Path(tmp), on_progress=_progress_printer(args.json), cancel_event=threading.Event())
        result = task(ctx, params)
    if not args.json:
        print(file=sys.stderr)
    return result


def _model_params(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "model_path": str(args.model),
        "arch": args.arch,
        "num_classes": args.classes,
        "preprocessing": args.preprocessing,
        "seed": args.seed,
    }


def _interval(entry: dict[str, Any]) -> str:
    low, high = entry["ci"]
    return f"[{low:.3f}, {high:.3f}]"


def _membership_inference(args: argparse.Namespace) -> int:
    from attacks.cli import _scan_inputs
    from attacks.privacy import membership

    files = [(args.model, "model"), (args.members, "dataset"), (args.non_members, "dataset")]
    if not _scan_inputs(files, args.max_bytes, args.json):
        return EXIT_FAILED
    params = {
        **_model_params(args),
        "members_path": str(args.members),
        "non_members_path": str(args.non_members),
        "shadow_arch": args.shadow_arch,
        "shadow_models": args.shadow_models,
        "epochs": args.epochs,
        "learning_rate": args.lr,
        "weight_decay": args.weight_decay,
        "batch_size": args.batch_size,
        "sample_limit": args.limit,
        "bootstrap": args.bootstrap,
    }
    result = _run(membership.run, params, args)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return EXIT_OK
    accuracy, shadows = result["target_accuracy"], result["shadow_models"]
    print(f"schema                {result['schema']} ({result['method']}, {shadows['count']} shadow models)")
    print(f"members / non-members {result['members']} / {result['non_members']}")
    print(f"target accuracy       members {accuracy['members']:.3f}, non-members {accuracy['non_members']:.3f}")
    print(
        f"shadow accuracy       trained on {shadows['accuracy_trained_on']:.3f}, "
        f"held out {shadows['accuracy_held_out']:.3f}"
    )
    print(f"AUC                   {result['auc']['value']:.3f} {_interval(result['auc'])}")
    for entry in result["tpr_at_fpr"]:
        label = f"TPR at {entry['fpr']:.1%} FPR"
        shown = f"{entry['tpr']:.3f} {_interval(entry)}" if entry["reportable"] else f"not reported: {entry['reason']}"
        print(f"{label:<21} {shown}")
    print(f"baseline AUC          {result['baseline']['auc']:.3f} (confidence threshold, no calibration)")
    print(f"intervals             {result['ci_method']}")
    print(f"seconds               {result['seconds']}")
    print(NOT_TESTED)
    return EXIT_OK


def _extraction(args: argparse.Namespace) -> int:
    from attacks.cli import _scan_inputs
    from attacks.privacy import extraction

    files = [(args.model, "model"), (args.data, "dataset"), (args.eval, "dataset")]
    files += [(args.copy_weights, "model")] if args.copy_weights else []
    if not _scan_inputs(files, args.max_bytes, args.json):
        return EXIT_FAILED
    params = {
        **_model_params(args),
        "query_path": str(args.data),
        "eval_path": str(args.eval),
        "budgets": args.budgets,
        "victim_output": args.victim_output,
        "copy_arch": args.copy_arch,
        "copy_weights": str(args.copy_weights) if args.copy_weights else None,
        "steps": args.steps,
        "learning_rate": args.lr,
        "weight_decay": args.weight_decay,
        "batch_size": args.batch_size,
    }
    result = _run(extraction.run, params, args)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return EXIT_OK
    copy = result["copy"]
    print(f"schema           {result['schema']} (victim output: {result['victim_output']})")
    print(f"victim accuracy  {result['victim_accuracy']:.3f} on {result['data']['evaluation']['samples']} images")
    print(f"copy             {copy['arch']} from {copy['start']}, {copy['steps']} steps per budget")
    if copy["initial"]:
        print(
            f"before queries   agreement {copy['initial']['agreement']:.3f}, accuracy {copy['initial']['accuracy']:.3f}"
        )
    print("budget  agreement  copy accuracy  seconds")
    for row in result["budgets"]:
        print(f"{row['budget']:>6}  {row['agreement']:9.3f}  {row['accuracy']:13.3f}  {row['seconds']:7.1f}")
    print(f"queries          {result['queries']}; seconds {result['seconds']}")
    return EXIT_OK


def _shared_options(parser: argparse.ArgumentParser) -> None:
    from attacks.cli import DEFAULT_MAX_BYTES, add_model_options

    parser.add_argument(
        "--model",
        "--weights",
        dest="model",
        type=Path,
        required=True,
        help="the model under test: safetensors / state_dict .pt (with --arch) or ONNX; only its outputs are read",
    )
    add_model_options(parser)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 0.001)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay (default 0)")
    parser.add_argument("--batch-size", type=int, default=64, help="training batch size (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help="size limit for every file")
    parser.add_argument("--json", action="store_true", help="print the versioned JSON document")


def add_commands(commands: Any) -> None:
    """Register the privacy subcommands on `python -m attacks`'s subparsers."""
    from attacks.privacy.extraction import DEFAULT_STEPS, VICTIM_OUTPUTS
    from attacks.privacy.membership import DEFAULT_BOOTSTRAP, DEFAULT_SHADOWS

    member = commands.add_parser(
        "membership-inference",
        help="LiRA membership inference with shadow models (riskapp.membership-inference/1).",
        description="Membership inference (LiRA, shadow models trained here with the target's recipe): AUC and "
        "TPR at 1 % and 0.1 % FPR with bootstrap intervals. " + NOT_TESTED,
    )
    _shared_options(member)
    member.add_argument("--members", type=Path, required=True, help=".npz of samples the model was trained on")
    member.add_argument("--non-members", type=Path, required=True, help=".npz of held-out samples, never trained on")
    member.add_argument("--shadow-arch", help="the shadow models' architecture (default --arch; needed for ONNX)")
    member.add_argument(
        "--shadow-models", type=int, default=DEFAULT_SHADOWS, help=f"shadow models (default {DEFAULT_SHADOWS})"
    )
    member.add_argument("--epochs", type=int, default=20, help="training epochs of each shadow model (default 20)")
    member.add_argument("--limit", type=int, default=0, help="use at most this many samples of each set (0: all)")
    member.add_argument(
        "--bootstrap", type=int, default=DEFAULT_BOOTSTRAP, help=f"bootstrap resamples (default {DEFAULT_BOOTSTRAP})"
    )
    member.set_defaults(handler=_membership_inference)

    extract = commands.add_parser(
        "extraction",
        help="Query-budgeted copy of a model: agreement and accuracy per budget (riskapp.extraction/1).",
        description="Model extraction (KnockoffNets-style): query the model with public images, train a copy on "
        "its answers, report agreement and the copy's accuracy per query budget. " + NOT_TESTED,
    )
    _shared_options(extract)
    extract.add_argument("--data", type=Path, required=True, help=".npz of public images to query with (y unused)")
    extract.add_argument("--eval", type=Path, required=True, help="labelled .npz to measure agreement and accuracy")
    extract.add_argument("--budgets", type=int, nargs="+", required=True, help="query budgets, e.g. 100 500 1000")
    extract.add_argument(
        "--victim-output",
        choices=VICTIM_OUTPUTS,
        default="label",
        help="what the model answers: its top-1 label (default) or its probabilities",
    )
    extract.add_argument("--copy-arch", help="the copy's architecture (default --arch; needed for ONNX)")
    extract.add_argument("--copy-weights", type=Path, help="a public teacher's weights for the copy to start from")
    extract.add_argument(
        "--steps", type=int, default=DEFAULT_STEPS, help=f"training steps of each copy (default {DEFAULT_STEPS})"
    )
    extract.set_defaults(handler=_extraction)
