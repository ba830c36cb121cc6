"""riskapp-ci: upload a model version, run the project's test plan, wait, and fail the build on a quality gate.

Exit codes: 0 every gate passed; 1 a gate failed (or is not measured); 2 a job failed, was cancelled or timed
out, the model was rejected at intake, or waiting timed out; 3 bad usage, authentication, permission or
connection error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from riskapp_ci import EXIT_GATE_FAILED, EXIT_JOB_FAILED, EXIT_PASSED, EXIT_USAGE, __version__
from riskapp_ci.http import Api, ApiError
from riskapp_ci.report import FAILED_JOB, Progress, junit_xml, summary_table


class Stop(Exception):
    """End the run with this exit code and message."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def _log(message: str) -> None:
    print(f"riskapp-ci: {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="riskapp-ci", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"riskapp-ci {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--url", default=os.environ.get("RISKAPP_URL"), help="riskapp's address (env RISKAPP_URL)")
        sub.add_argument("--token", help="an API token from /accounts/profile/ (default: env RISKAPP_TOKEN)")
        sub.add_argument("--project", type=int, required=True, help="the project id")
        sub.add_argument("--junit", metavar="PATH", help="write a JUnit XML report here")
        sub.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the jobs (default 3600)")
        sub.add_argument("--poll", type=float, default=5, help="seconds between status checks (default 5)")

    check = commands.add_parser("check", help="upload a model version, run the test plan, evaluate the gates")
    common(check)
    check.add_argument("--model-file", required=True, help="safetensors, state_dict .pt or ONNX file")
    check.add_argument("--name", required=True)
    check.add_argument("--version", dest="model_version", required=True, metavar="V")
    check.add_argument("--arch", default="", help="architecture from the catalogue (empty for ONNX)")
    check.add_argument("--classes", type=int, help="number of classes")
    check.add_argument("--role", default="student", choices=("teacher", "student", "other"))
    check.add_argument("--parent-id", type=int, help="the teacher this model was fine-tuned from")
    previous = check.add_mutually_exclusive_group()
    previous.add_argument("--previous-id", type=int, help="the model id of the previous version")
    previous.add_argument(
        "--previous-version", choices=("auto",), help="auto: the latest model of the same name in the project"
    )
    check.add_argument("--dataset", type=int, help="evaluation dataset id (default: the project's latest)")
    check.add_argument("--sample-limit", type=int, default=200, help="samples per evaluation (default 200)")
    check.add_argument("--backdoor-steps", type=int, help="Neural Cleanse steps (default: the engine's)")

    gates = commands.add_parser("gates", help="evaluate the gates for an existing model")
    common(gates)
    gates.add_argument("--model", type=int, required=True, help="the model id")
    return parser


def _api(args: argparse.Namespace) -> Api:
    token = args.token or os.environ.get("RISKAPP_TOKEN")
    if not args.url:
        raise Stop(EXIT_USAGE, "give riskapp's address with --url or RISKAPP_URL")
    if not token:
        raise Stop(EXIT_USAGE, "give an API token with --token or RISKAPP_TOKEN (create one on /accounts/profile/)")
    return Api(args.url, token)


def _wait(deadline: float, poll: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise Stop(EXIT_JOB_FAILED, f"timed out waiting for {what}")
    time.sleep(poll)


def _previous_id(api: Api, args: argparse.Namespace) -> int | None:
    if args.previous_version != "auto":
        return args.previous_id
    page, found = 1, None
    while True:
        data = api.get(f"projects/{args.project}/models/", page=page, page_size=200)
        for model in data["results"]:
            if model["name"] == args.name and (found is None or model["id"] > found["id"]):
                found = model
        if not data.get("next"):
            break
        page += 1
    if found:
        _log(f"previous version: model {found['id']} ({found['name']} v{found['version']})")
    return found["id"] if found else None


def _upload(api: Api, args: argparse.Namespace) -> dict[str, Any]:
    if not os.path.isfile(args.model_file):
        raise Stop(EXIT_USAGE, f"no such file: {args.model_file}")
    card = {
        "name": args.name,
        "version": args.model_version,
        "role": args.role,
        "architecture": args.arch,
        "num_classes": args.classes,
        "parent_id": args.parent_id,
        "previous_version_id": _previous_id(api, args),
    }
    try:
        model = api.upload(f"projects/{args.project}/models/upload/", args.model_file, card)
    except ApiError as error:
        existing = (error.body or {}).get("existing_id") if isinstance(error.body, dict) else None
        if error.status == 409 and existing:
            _log(f"this file is already model {existing} of the project; evaluating that model")
            return api.get(f"projects/{args.project}/models/{existing}/")
        raise
    _log(f"uploaded {args.model_file} as model {model['id']} ({args.name} v{args.model_version})")
    return model


def _wait_for_intake(api: Api, args: argparse.Namespace, model: dict[str, Any], deadline: float) -> dict[str, Any]:
    while model["status"] not in ("ready", "rejected"):
        _wait(deadline, args.poll, f"the intake scan of model {model['id']}")
        model = api.get(f"projects/{args.project}/models/{model['id']}/")
    if model["status"] == "rejected":
        raise Stop(EXIT_JOB_FAILED, f"model {model['id']} was rejected at intake: {model.get('status_message', '')}")
    return model


def _follow(api: Api, args: argparse.Namespace, job_ids: list[int], deadline: float) -> list[dict[str, Any]]:
    progress = Progress()
    try:
        while True:
            jobs = [api.get(f"projects/{args.project}/jobs/{job_id}/") for job_id in job_ids]
            progress.update(jobs)
            if all(job["is_finished"] for job in jobs):
                return jobs
            if time.monotonic() > deadline:
                progress.finish()
                waiting = ", ".join(f"{job['id']} {job['kind']}" for job in jobs if not job["is_finished"])
                raise Stop(EXIT_JOB_FAILED, f"timed out after {args.timeout:.0f} s waiting for jobs {waiting}")
            time.sleep(args.poll)
    finally:
        progress.finish()


def _report(args: argparse.Namespace, evaluation: dict[str, Any], jobs: list[dict[str, Any]], label: str) -> int:
    print(summary_table(evaluation, jobs))
    if args.junit:
        with open(args.junit, "wb") as handle:
            handle.write(junit_xml(evaluation, jobs, model_label=label))
        _log(f"JUnit report written to {args.junit}")
    failed_jobs = [job for job in jobs if job["status"] in FAILED_JOB]
    if failed_jobs:
        _log(f"{len(failed_jobs)} job(s) did not succeed: " + ", ".join(f"{j['id']} {j['kind']}" for j in failed_jobs))
        return EXIT_JOB_FAILED
    if not evaluation["passed"]:
        failed = [r["gate"]["kind"] for r in evaluation["gates"] if r["gate"]["enabled"] and r["passed"] is not True]
        _log("quality gate(s) failed: " + ", ".join(failed))
        return EXIT_GATE_FAILED
    _log("every quality gate passed")
    return EXIT_PASSED


def check(args: argparse.Namespace) -> int:
    api = _api(args)
    deadline = time.monotonic() + args.timeout
    model = _wait_for_intake(api, args, _upload(api, args), deadline)
    payload = {"sample_limit": args.sample_limit, "dataset_id": args.dataset, "backdoor_steps": args.backdoor_steps}
    plan = api.post(f"projects/{args.project}/models/{model['id']}/test-plan/", payload)
    for skipped in plan["skipped"]:
        _log(f"skipped {skipped['kind']}: {skipped['reason']}")
    _log(f"test plan queued: {len(plan['jobs'])} job(s) on dataset {plan['dataset_id']}")
    jobs = _follow(api, args, [job["id"] for job in plan["jobs"]], deadline)
    evaluation = api.get(f"projects/{args.project}/models/{model['id']}/gates/")
    return _report(args, evaluation, jobs, f"{args.name} v{args.model_version}")


def gates(args: argparse.Namespace) -> int:
    api = _api(args)
    model = api.get(f"projects/{args.project}/models/{args.model}/")
    evaluation = api.get(f"projects/{args.project}/models/{args.model}/gates/")
    return _report(args, evaluation, [], f"{model['name']} v{model['version']}")


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code else EXIT_PASSED
    try:
        return check(args) if args.command == "check" else gates(args)
    except Stop as stop:
        _log(stop.args[0])
        return stop.code
    except ApiError as error:
        if error.status == 0:
            _log(error.detail)
        elif error.status == 401:
            _log(f"authentication failed ({error.detail}); check the token")
        else:
            _log(f"riskapp answered {error.status}: {error.detail}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
