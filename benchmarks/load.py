"""Load test: 50 concurrent users browse the portfolio and project pages and watch running jobs for 60 s.

Uses web.py's database (1,000 generated projects with 20,000 finished jobs on PostgreSQL; --reuse keeps the
previous run's) and its gunicorn (sync workers, DEBUG off, plain HTTP), warmed up with a few requests of each
page kind. Adds RUNNING jobs whose progress a stand-in for the workers advances every 2 seconds while the users
poll it, and removes them afterwards. The users are benchmarks/locustfile.py, run by locust headless in a
subprocess; the requests it records give p50 / p95 / max, requests and failures per kind of page, for the whole
run and for the part after the last sign-in (50 sign-ins in 5 s are a burst of password hashing of their own).
Exits 1 when any request failed (an HTTP error, a lost session, a refused connection): the requirement is zero
errors.

    .venv/bin/python -m benchmarks.load [--reuse] [--users 50] [--spawn-rate 10] [--duration 60] [--workers 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.upload_memory import ROOT
from benchmarks.web import (
    USERNAME,
    BenchDatabase,
    add_database_arguments,
    gunicorn,
    manage,
    percentile,
    prepare_database,
    signed_in_session,
)

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
WORKER_TAG = "benchmarks.load"  # the `worker` of the running jobs this test adds, and removes

TARGETS = """
import json, random
from django.utils import timezone
from riskapp.jobs.models import Job, JobStatus
from riskapp.projects.models import Project
Job.objects.filter(worker={tag!r}).delete()  # left over by an interrupted run
rng = random.Random(0)
ids = sorted(Project.objects.filter(memberships__user__username={user!r}).values_list("id", flat=True))
chosen = rng.sample(ids, min(300, len(ids)))
finished = {{}}
for project_id, job_id in Job.objects.filter(project_id__in=chosen, status=JobStatus.SUCCEEDED).values_list(
    "project_id", "id"
):
    finished.setdefault(project_id, []).append(job_id)
now = timezone.now()
running = Job.objects.bulk_create(
    Job(project_id=p, kind="robustness_curve", queue="gpu", status=JobStatus.RUNNING, attempts=1,
        progress=rng.randint(1, 90), progress_message="attacking", worker={tag!r}, enqueued_at=now,
        started_at=now, heartbeat_at=now)
    for p in chosen[:{running}]
)
print(json.dumps({{
    "projects": [{{"id": p, "jobs": finished[p]}} for p in chosen if p in finished],
    "running": [{{"project": job.project_id, "job": job.pk}} for job in running],
}}))
"""
REMOVE = "from riskapp.jobs.models import Job; Job.objects.filter(worker={tag!r}).delete()"
# What a worker writes while its job runs: progress and heartbeat (one statement for all of them here).
ADVANCE = "UPDATE jobs_job SET progress = MOD(progress, 99) + 1, heartbeat_at = now() WHERE worker = %s"


def _locust(port: int, args: argparse.Namespace, out: Path, targets: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--users", str(args.users),
        "--spawn-rate", str(args.spawn_rate), "--run-time", f"{args.duration}s", "--host", f"http://127.0.0.1:{port}",
        "--csv", str(out / "load"), "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    log = (out / "locust.log").open("w")
    env = {**os.environ, "RISKAPP_LOAD_TARGETS": str(targets), "RISKAPP_LOAD_REQUESTS": str(out / "requests.csv")}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _warm_up(port: int, password: str, targets: dict) -> None:
    """A few rounds of every page kind first, as a server that has been up a while has had: the workers import
    their views and compile their templates on first use, which is not what this test measures."""
    session = signed_in_session(port, password)
    project, running = targets["projects"][0], targets["running"][0]
    paths = [
        "/portfolio/",
        "/portfolio/?band=high&sort=name&dir=asc&page=2",
        f"/projects/{project['id']}/",
        f"/projects/{project['id']}/risk/",
        f"/projects/{project['id']}/assessment/register/",
        f"/projects/{project['id']}/jobs/{project['jobs'][0]}/",
        f"/projects/{running['project']}/jobs/{running['job']}/progress/",
        f"/projects/{running['project']}/jobs/",
    ]
    for _ in range(5):
        for path in paths:
            session.request("GET", path)


def _run(database: BenchDatabase, args: argparse.Namespace) -> tuple[int, list[float]]:
    """Run locust against gunicorn while the running jobs advance; (locust's exit code, 1-minute load averages)."""
    import psycopg

    out = database.data_dir
    targets = json.loads(manage(database.env, "shell", "-v", "0", "-c",
                                TARGETS.format(tag=WORKER_TAG, user=USERNAME, running=args.running_jobs)))  # fmt: skip
    targets.update({"username": USERNAME, "password": database.password})
    targets_file = out / "targets.json"
    targets_file.write_text(json.dumps(targets))
    loads = []
    try:
        with (
            gunicorn(database, workers=args.workers, log=out / "gunicorn.log") as port,
            psycopg.connect(database.env["DATABASE_URL"], autocommit=True) as connection,
        ):
            _warm_up(port, database.password, targets)
            locust = _locust(port, args, out, targets_file)
            try:
                while locust.poll() is None:
                    connection.execute(ADVANCE, (WORKER_TAG,))
                    loads.append(os.getloadavg()[0])
                    time.sleep(2)
            finally:
                if locust.poll() is None:
                    locust.terminate()
                    locust.wait(timeout=30)
    finally:
        manage(database.env, "shell", "-v", "0", "-c", REMOVE.format(tag=WORKER_TAG))
    return locust.returncode, loads


def _read_requests(path: Path) -> list[tuple[float, str, float, bool]]:
    """(start time, page kind, milliseconds, failed) of every request the users made."""
    with path.open(newline="") as handle:
        return [(float(start), name, float(ms), failed == "True") for start, name, ms, failed in csv.reader(handle)]


def _table(requests: list[tuple[float, str, float, bool]], seconds: float) -> None:
    print(f"{'page kind':<32} {'requests':>8} {'failures':>8} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'req/s':>6}")
    kinds = sorted({name for _, name, _, _ in requests})
    for kind in [*kinds, "all"]:
        rows = [r for r in requests if kind in ("all", r[1])]
        times = [ms for _, _, ms, _ in rows]
        failed = sum(f for *_, f in rows)
        print(
            f"{kind:<32} {len(rows):>8} {failed:>8} {percentile(times, 0.5):7.0f} {percentile(times, 0.95):7.0f} "
            f"{max(times):7.0f} {len(rows) / seconds:6.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load")
    add_database_arguments(parser)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=10, help="users started per second")
    parser.add_argument("--duration", type=int, default=60, help="seconds")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers (as in docker-compose.yml)")
    parser.add_argument("--running-jobs", type=int, default=50, help="running jobs whose progress users watch")
    args = parser.parse_args(argv)
    database = prepare_database(args)
    if database is None:
        return 0
    before = os.getloadavg()
    code, loads = _run(database, args)
    out = database.data_dir
    if not (out / "requests.csv").exists():
        print(f"FAILED: locust recorded no requests (exit code {code}):")
        print((out / "locust.log").read_text()[-3000:])
        return 1
    requests = _read_requests(out / "requests.csv")
    began = min(start for start, *_ in requests)
    ended = max(start + ms / 1000 for start, _, ms, _ in requests)
    signed_in = max(start + ms / 1000 for start, name, ms, _ in requests if name == "sign in")
    print(
        f"{args.users} users (spawned {args.spawn_rate:g}/s) for {args.duration} s against gunicorn with "
        f"{args.workers} sync workers and PostgreSQL on {os.cpu_count()} cores; 1-minute load average "
        f"{before[0]:.2f} before, {min(loads, default=0):.2f}–{max(loads, default=0):.2f} during the run"
    )
    print(f"\nThe whole run ({ended - began:.0f} s):")
    _table(requests, ended - began)
    print(f"\nAfter the last user signed in ({signed_in - began:.0f} s into the run; {ended - signed_in:.0f} s):")
    _table([r for r in requests if r[0] >= signed_in], ended - signed_in)
    failures = sum(failed for *_, failed in requests)
    if failures or code:
        failed = out / "load_failures.csv"
        print(f"FAILED: {failures} failed requests (locust exit code {code}); see {failed}:")
        print(failed.read_text().strip()[:3000] if failed.exists() else (out / "locust.log").read_text()[-3000:])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
