"""The engine's command line. Each command prints text, or with --json the same document a job stores."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from attacks.context import RunContext, UserError

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
