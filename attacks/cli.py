"""The engine's command line. Each command prints text, or with --json the same document a job stores."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attacks.context import RunContext, UserError

if TYPE_CHECKING:
    from attacks.scan import ScanReport

DEFAULT_MAX_BYTES = 2 * 1024**3

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _print(document: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(document, indent=2, sort_keys=True))
        return
    width = max(len(key) for key in document) if document else 0
    for key, value in document.items():
        print(f"{key:<{width}}  {json.dumps(value) if isinstance(value, dict | list) else value}")


def _environment(args: argparse.Namespace) -> int:
    from attacks.environment import environment_report

    _print(environment_report(), args.json)
    return EXIT_OK


def _speed(args: argparse.Namespace) -> int:
    from attacks import speed

    def progress(percent: float, message: str) -> None:
        if not args.json:
            print(f"\r{percent:5.1f}% {message}", end="", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext(output_dir=Path(tmp), on_progress=progress, cancel_event=threading.Event())
        result = speed.run(ctx, {"duration_s": args.duration, "size": args.size})
    if not args.json:
        print(file=sys.stderr)
    _print(result, args.json)
    return EXIT_OK


def _progress_printer(as_json: bool):
    def progress(percent: float, message: str) -> None:
        if not as_json:
            print(f"\r{percent:5.1f}% {message:<40}", end="", file=sys.stderr, flush=True)

    return progress


def _print_scan(report: ScanReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.as_dict(), indent=2, sort_keys=True))
        return
    verdict = "accepted" if report.accepted else "REFUSED"
    print(f"{verdict}: {report.format} ({report.size} bytes, sha256 {report.sha256})")
    if report.malicious:
        print("MALICIOUS: the file carries a malicious signature; it was not loaded.")
    for reason in report.reasons:
        print(f"  - [{reason.code}] {reason.message}")


def _scan(args: argparse.Namespace) -> int:
    from attacks.scan import scan_file

    if args.max_bytes <= 0:
        raise UserError("--max-bytes must be positive.")
    report = scan_file(args.path, max_bytes=args.max_bytes, expect=args.expect)
    _print_scan(report, args.json)
    return EXIT_OK if report.accepted else EXIT_FAILED


def _architectures(args: argparse.Namespace) -> int:
    from attacks.architectures import MAX_SEARCH_RESULTS, catalogue, search

    if args.search is not None or args.source:
        entries = search(args.search or "", limit=args.limit or 10**6, source=args.source)
    else:
        entries = catalogue()[: args.limit or None]
    if args.json:
        print(json.dumps(entries, indent=2, sort_keys=True))
        return EXIT_OK
    if not entries:
        print(f"No architecture matches {args.search!r}.", file=sys.stderr)
        return EXIT_FAILED
    width = max(len(entry["name"]) for entry in entries)
    print(f"{'name':<{width}}  {'input':<11}  {'classes':>7}  {'parameters':>13}  description")
    for entry in entries:
        shape = "x".join(str(d) for d in entry["input_shape"])
        count = f"{entry['parameters']:,}" if entry["parameters"] else "?"
        print(f"{entry['name']:<{width}}  {shape:<11}  {entry['num_classes']:>7}  {count:>13}  {entry['description']}")
    if args.search is None and not args.limit:
        print(
            f"({len(entries)} architectures; --search WORD narrows them, best matches first, "
            f"{MAX_SEARCH_RESULTS} at most in the web form)",
            file=sys.stderr,
        )
    return EXIT_OK


def _preprocessing_json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('give a JSON object, e.g. \'{"mean": [0.5], "std": [0.5]}\'')
    return value


def add_precision_option(command: argparse.ArgumentParser, what: str) -> None:
    """`--precision`: the number format of `what` (attacks.environment.resolve_precision)."""
    from attacks.environment import PRECISIONS

    command.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help=f"number format of {what} (default auto: bfloat16 where the CPU or GPU computes it natively)",
    )


def add_model_options(command: argparse.ArgumentParser, *, required: bool = False) -> None:
    """--arch, --classes and --preprocessing, the same on every command that loads weights."""
    command.add_argument(
        "--arch",
        required=required,
        help="architecture of the weights: a catalogue name (`architectures --search WORD`), timm/<name>, "
        "torchvision/<name>, or huggingface for a Hugging Face model folder zip",
    )
    command.add_argument("--classes", type=int, help="number of classes (default: the architecture's)")
    command.add_argument(
        "--preprocessing",
        type=_preprocessing_json,
        help='JSON overriding the library\'s pre-processing, e.g. \'{"mean": [0.5], "std": [0.5]}\' '
        "(keys: input_size, interpolation, crop_pct, scale, mean, std)",
    )


def _validate(args: argparse.Namespace) -> int:
    from attacks import validate
    from attacks.scan import scan_file

    # The command line runs the loaders in this process (no sandbox): scan both files first.
    for path, kind in ((args.model, "model"), (args.data, "dataset")):
        report = scan_file(path, max_bytes=args.max_bytes, expect=kind)
        if not report.accepted:
            print(f"{path}:", file=sys.stderr)
            _print_scan(report, args.json)
            return EXIT_FAILED
    params = {
        "model_path": str(args.model),
        "data_path": str(args.data),
        "arch": args.arch,
        "num_classes": args.classes,
        "preprocessing": args.preprocessing,
        "sample_limit": args.limit,
        "batch_size": args.batch_size,
    }
    with tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext(output_dir=Path(tmp), on_progress=_progress_printer(args.json), cancel_event=threading.Event())
        result = validate.run(ctx, params)
    if not args.json:
        print(file=sys.stderr)
        matrix = result.pop("confusion_matrix")
        _print(result, False)
        print("confusion matrix (rows: true class, columns: predicted class)")
        for row in matrix:
            print("  " + " ".join(f"{count:5d}" for count in row))
        return EXIT_OK
    _print(result, True)
    return EXIT_OK


def _scan_inputs(paths: list[tuple[Path, str]], max_bytes: int, as_json: bool) -> bool:
    """The command line runs the loaders in this process (no sandbox): scan every file first."""
    from attacks.scan import scan_file

    for path, kind in paths:
        report = scan_file(path, max_bytes=max_bytes, expect=kind)
        if not report.accepted:
            print(f"{path}:", file=sys.stderr)
            _print_scan(report, as_json)
            return False
    return True


def _evaluate(args: argparse.Namespace) -> int:
    from attacks.evasion import tasks as evasion

    if not _scan_inputs([(args.model, "model"), (args.data, "dataset")], args.max_bytes, args.json):
        return EXIT_FAILED
    params = {
        "model_path": str(args.model),
        "data_path": str(args.data),
        "arch": args.arch,
        "num_classes": args.classes,
        "preprocessing": args.preprocessing,
        "attacks": args.attack or ["pgd_linf"],
        "eps": args.eps if len(args.eps) > 1 else args.eps[0],
        "norm": args.norm,
        "steps": args.steps,
        "step_size": args.step_size,
        "batch_size": args.batch_size,
        "sample_limit": args.limit,
        "seed": args.seed,
        "max_queries": args.max_queries,
        "precision": args.precision,
    }
    # Several ε values make a robustness curve (PGD in --norm); one ε runs the attacks given.
    run = evasion.run_curve if len(args.eps) > 1 else evasion.run_evasion
    with tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext(output_dir=Path(tmp), on_progress=_progress_printer(args.json), cancel_event=threading.Event())
        result = run(ctx, params)
    if not args.json:
        print(file=sys.stderr)
    _print(result, args.json)
    return EXIT_OK


def _transfer(args: argparse.Namespace) -> int:
    from attacks.evasion import tasks as evasion

    files = [(args.teacher, "model"), (args.student, "model"), (args.data, "dataset")]
    if not _scan_inputs(files, args.max_bytes, args.json):
        return EXIT_FAILED
    params = {
        "teacher_path": str(args.teacher),
        "teacher_arch": args.teacher_arch,
        "student_path": str(args.student),
        "student_arch": args.student_arch,
        "num_classes": args.classes,
        "data_path": str(args.data),
        "attacks": [args.attack],
        "eps": args.eps,
        "norm": args.norm,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "sample_limit": args.limit,
        "seed": args.seed,
        "precision": args.precision,
        "teacher_preprocessing": args.teacher_preprocessing,
        "student_preprocessing": args.student_preprocessing,
    }
    with tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext(output_dir=Path(tmp), on_progress=_progress_printer(args.json), cancel_event=threading.Event())
        result = evasion.run_transfer(ctx, params)
    if not args.json:
        print(file=sys.stderr)
    _print(result, args.json)
    return EXIT_OK


def _add_attack_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--norm", default="inf", choices=["inf", "2"], help="perturbation norm (default inf)")
    command.add_argument("--steps", type=int, default=10, help="iterations of iterative attacks (default 10)")
    command.add_argument("--batch-size", type=int, default=128, help="batch size (default 128)")
    command.add_argument("--limit", type=int, default=500, help="attack at most this many samples (default 500)")
    command.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_precision_option(command, "PGD's gradients, whose successes are always judged in float32")
    command.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help="size limit for the files")
    command.add_argument("--json", action="store_true", help="print the riskapp.evasion/1 JSON document")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m attacks", description="riskapp's ML attack engine.")
    commands = parser.add_subparsers(dest="command", required=True)

    env = commands.add_parser("environment", help="Python, torch, ART, numpy versions; CUDA devices; CPUs.")
    env.add_argument("--json", action="store_true", help="print a JSON document")
    env.set_defaults(handler=_environment)

    speed = commands.add_parser("speed", help="Sustained matrix-multiply throughput of this machine's device.")
    speed.add_argument("--duration", type=float, default=5.0, help="seconds to measure (default 5)")
    speed.add_argument("--size", type=int, default=512, help="matrix size (default 512)")
    speed.add_argument("--json", action="store_true", help="print a JSON document")
    speed.set_defaults(handler=_speed)

    scan = commands.add_parser("scan", help="Statically scan a model or dataset file: exit 0 accepted, 1 refused.")
    scan.add_argument("path", type=Path, help="the file to scan (its name and extension are ignored)")
    scan.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help="size limit (default 2 GiB)")
    scan.add_argument("--expect", choices=["model", "dataset"], help="refuse a file of the other kind")
    scan.add_argument("--json", action="store_true", help="print the riskapp.scan/1 JSON document")
    scan.set_defaults(handler=_scan)

    archs = commands.add_parser("architectures", help="The architecture catalogue weights can be loaded into.")
    archs.add_argument("--search", metavar="WORDS", help="only names holding every word, best matches first")
    archs.add_argument("--source", choices=["riskapp", "timm", "torchvision"], help="only this library's")
    archs.add_argument("--limit", type=int, default=0, help="list at most this many (default: all)")
    archs.add_argument("--json", action="store_true", help="print a JSON list")
    archs.set_defaults(handler=_architectures)

    check = commands.add_parser("validate", help="Clean accuracy of a model on an .npz evaluation set.")
    check.add_argument(
        "--model", type=Path, required=True, help="safetensors / state_dict .pt (--arch), Hugging Face folder zip, ONNX"
    )
    add_model_options(check)
    check.add_argument("--data", type=Path, required=True, help=".npz with arrays x and y, or an image-folder zip")
    check.add_argument("--limit", type=int, default=0, help="evaluate at most this many samples (default: all)")
    check.add_argument("--batch-size", type=int, default=128, help="batch size (default 128)")
    check.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help="size limit for both files")
    check.add_argument("--json", action="store_true", help="print a JSON document")
    check.set_defaults(handler=_validate)

    evaluate = commands.add_parser("evaluate", help="Evasion attacks on a model: robust accuracy (riskapp.evasion/1).")
    evaluate.add_argument(
        "--model", type=Path, required=True, help="safetensors / state_dict .pt (--arch), Hugging Face folder zip, ONNX"
    )
    add_model_options(evaluate)
    evaluate.add_argument("--data", type=Path, required=True, help=".npz with arrays x and y, or an image-folder zip")
    evaluate.add_argument("--attack", action="append", help="attack name, repeatable (default pgd_linf)")
    evaluate.add_argument("--eps", type=float, nargs="+", required=True, help="ε; several values: a PGD curve")
    evaluate.add_argument("--step-size", type=float, help="step size (default 2.5·ε/steps)")
    evaluate.add_argument("--max-queries", type=int, default=1000, help="black-box queries per sample (default 1000)")
    _add_attack_options(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    transfer = commands.add_parser("transfer", help="Craft adversarial examples on a teacher, test them on a student.")
    transfer.add_argument("--teacher", type=Path, required=True, help="teacher (surrogate) weights")
    transfer.add_argument("--teacher-arch", required=True, help="the teacher's architecture (as --arch elsewhere)")
    transfer.add_argument("--teacher-preprocessing", type=_preprocessing_json, help="the teacher's, as --preprocessing")
    transfer.add_argument("--student", type=Path, required=True, help="student weights, a model folder zip or ONNX")
    transfer.add_argument("--student-arch", help="the student's architecture (not for ONNX)")
    transfer.add_argument("--student-preprocessing", type=_preprocessing_json, help="the student's, as --preprocessing")
    transfer.add_argument("--classes", type=int, help="number of classes (default: the architecture's)")
    transfer.add_argument("--data", type=Path, required=True, help=".npz with arrays x and y, or an image-folder zip")
    transfer.add_argument("--attack", default="pgd_linf", help="white-box attack crafted on the teacher")
    transfer.add_argument("--eps", type=float, required=True, help="ε")
    _add_attack_options(transfer)
    transfer.set_defaults(handler=_transfer)

    from attacks.backdoor.cli import add_commands as add_backdoor_commands

    add_backdoor_commands(commands)

    from attacks.privacy.cli import add_commands as add_privacy_commands

    add_privacy_commands(commands)

    from attacks.hardening.cli import add_commands as add_hardening_commands

    add_hardening_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code else EXIT_OK
    try:
        return args.handler(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
