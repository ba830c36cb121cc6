"""The hardening subcommand of `python -m attacks`: `harden --method finetune|adversarial|trades|fine-pruning|unlearn`.

It scans its input files first (the command line loads them in this process, with no sandbox), runs the engine task
and prints text, or with --json the riskapp.hardening/1 document. The hardened weights are written to --output
(hardened.safetensors), where the per-epoch checkpoint also lives while the run goes on: run the same command again
after a stop and it resumes from the last finished epoch.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

from attacks.context import RunContext

EXIT_OK, EXIT_FAILED = 0, 1


def _rate(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "-"
    low, high = entry["ci95"]
    return f"{entry['value']:.3f} [{low:.3f}, {high:.3f}] n={entry['samples']}"


def _harden(args: argparse.Namespace) -> int:
    from attacks.cli import _progress_printer, _scan_inputs
    from attacks.hardening import harden

    files = [(args.model, "model"), (args.data, "dataset"), (args.eval, "dataset")]
    files += [(args.triggered, "dataset")] if args.triggered else []
    if not _scan_inputs(files, args.max_bytes, args.json):
        return EXIT_FAILED
    params = {
        "method": args.method,
        "model_path": str(args.model),
        "arch": args.arch,
        "num_classes": args.classes,
        "preprocessing": args.preprocessing,
        "data_path": str(args.data),
        "eval_path": str(args.eval),
        "triggered_path": str(args.triggered) if args.triggered else None,
        "target_class": args.target_class,
        "eps": args.eps,
        "norm": args.norm,
        "epochs": args.epochs,
        "learning_rate": args.lr,
        "weight_decay": args.weight_decay,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "sample_limit": args.limit,
        "eval_limit": args.eval_limit,
        "attack_steps": args.attack_steps,
        "beta": args.beta,
        "robust_evaluation": args.robust_evaluation,
        "eval_steps": args.eval_steps,
        "robust_limit": args.robust_limit,
        "cleanse_steps": args.cleanse_steps,
        "unlearn_fraction": args.unlearn_fraction,
        "max_accuracy_drop": args.max_accuracy_drop,
        "precision": args.precision,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(output_dir=args.output, on_progress=_progress_printer(args.json), cancel_event=threading.Event())
    result = harden.run(ctx, {key: value for key, value in params.items() if value is not None})
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return EXIT_OK
    print(file=sys.stderr)
    print(f"schema      {result['schema']} ({result['description']})")
    print(f"weights     {args.output / result['weights']['file']} (sha256 {result['weights']['sha256']})")
    if result["resumed_from_epoch"]:
        print(f"resumed     after epoch {result['resumed_from_epoch']}")
    print("epoch  loss      clean accuracy  seconds")
    for row in result["history"]:
        print(f"{row['epoch']:>5}  {row['loss']:8.4f}  {row['clean_accuracy']['value']:14.3f}  {row['seconds']:7.1f}")
    names = ("clean_accuracy", "trigger_success", "reversed_trigger_success", "robust_accuracy")
    for name in names:
        if name in result["before"]:
            print(f"{name:<25} before {_rate(result['before'][name])}  after {_rate(result['after'][name])}")
    if result["robust_evaluation"]:
        robust = result["robust_evaluation"]
        print(f"robust accuracy under {robust['attacks']}, ε {robust['eps']} (L{robust['norm']})")
    if result["training_attack"]:
        print(
            f"training attack: {result['training_attack']['steps']} steps in {result['training_attack']['precision']}"
        )
    print(f"device      {result['device']}; seconds {result['seconds']}")
    return EXIT_OK


def add_commands(commands: Any) -> None:
    """Register `harden` on `python -m attacks`'s subparsers."""
    from attacks.backdoor.cleanse import DEFAULT_STEPS
    from attacks.cli import DEFAULT_MAX_BYTES, add_model_options, add_precision_option
    from attacks.hardening.harden import (
        DEFAULT_EPOCHS,
        DEFAULT_MAX_ACCURACY_DROP,
        DEFAULT_UNLEARN_FRACTION,
        METHODS,
        NORMS,
    )
    from attacks.hardening.measure import ROBUST_EVALUATIONS

    harden = commands.add_parser(
        "harden",
        help="Make a hardened model and measure it before and after (riskapp.hardening/1).",
        description="Fine-tune all layers, adversarial fine-tuning (PGD or TRADES), fine-pruning or Neural Cleanse "
        "unlearning; writes hardened.safetensors (the input's key names) and reports clean accuracy, trigger success "
        "and robust accuracy before and after, with 95 %% Wilson intervals (docs/hardening.md).",
    )
    harden.add_argument("--method", choices=METHODS, required=True, help="the hardening method")
    harden.add_argument("--model", "--weights", dest="model", type=Path, required=True, help="safetensors / state_dict")
    add_model_options(harden, required=True)
    harden.add_argument("--data", type=Path, required=True, help="clean training .npz (x, y) or image-folder zip")
    harden.add_argument("--eval", type=Path, required=True, help="clean labelled .npz for the before / after numbers")
    harden.add_argument(
        "--triggered", type=Path, help=".npz of triggered images with their true labels (known trigger)"
    )
    harden.add_argument("--target-class", type=int, help="the trigger's class (the class a backdoor scan flagged)")
    harden.add_argument("--eps", type=float, help="ε of adversarial fine-tuning and of the robust accuracy")
    harden.add_argument("--norm", default="inf", choices=NORMS, help="perturbation norm (default inf)")
    harden.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help=f"epochs (default {DEFAULT_EPOCHS})")
    harden.add_argument("--lr", type=float, help="Adam learning rate (default 0.001)")
    harden.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay (default 0)")
    harden.add_argument("--batch-size", type=int, default=64, help="training batch size (default 64)")
    harden.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    harden.add_argument("--limit", type=int, default=0, help="train on at most this many samples (0: all)")
    harden.add_argument("--eval-limit", type=int, default=1000, help="measure on at most this many samples")
    harden.add_argument("--attack-steps", type=int, default=10, help="PGD / TRADES steps per batch (default 10)")
    harden.add_argument("--beta", type=float, default=6.0, help="TRADES β (default 6)")
    add_precision_option(harden, "the training attack's passes (training and measurements stay float32)")
    harden.add_argument(
        "--robust-evaluation",
        choices=tuple(ROBUST_EVALUATIONS),
        default="apgd",
        help="apgd: APGD-CE + APGD-T (default); autoattack: the full standard AutoAttack",
    )
    harden.add_argument("--eval-steps", type=int, default=100, help="iterations of each robust attack (default 100)")
    harden.add_argument("--robust-limit", type=int, default=500, help="robust accuracy on at most this many samples")
    harden.add_argument(
        "--cleanse-steps", type=int, default=DEFAULT_STEPS, help=f"Neural Cleanse steps (default {DEFAULT_STEPS})"
    )
    harden.add_argument(
        "--unlearn-fraction",
        type=float,
        default=DEFAULT_UNLEARN_FRACTION,
        help=f"share of training images stamped with the reversed trigger (default {DEFAULT_UNLEARN_FRACTION})",
    )
    harden.add_argument(
        "--max-accuracy-drop",
        type=float,
        default=DEFAULT_MAX_ACCURACY_DROP,
        help=f"fine-pruning prunes while clean accuracy drops at most this (default {DEFAULT_MAX_ACCURACY_DROP})",
    )
    harden.add_argument("--output", type=Path, required=True, help="folder for hardened.safetensors and checkpoints")
    harden.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help="size limit for every file")
    harden.add_argument("--json", action="store_true", help="print the riskapp.hardening/1 JSON document")
    harden.set_defaults(handler=_harden)
