"""Page speed with many projects: p50 / p95 of the portfolio and project pages on gunicorn + PostgreSQL.

Creates a private PostgreSQL database (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
riskapp_bench, dropped and created again), migrates it, generates 1,000 projects with 20,000 finished
jobs (`manage.py generate_projects`), starts gunicorn (2 sync workers, DEBUG off, as in production but over
plain HTTP), signs in over HTTP and requests each page sequentially: a warm-up, then REQUESTS timed
requests each. Printed, never asserted; the target is p95 under 150 ms (benchmarks/README.md).

The database, the server and the sign-in are shared with the load test (benchmarks/load.py).

    .venv/bin/python -m benchmarks.web [--projects 1000] [--jobs 20000] [--requests 100] [--reuse]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.upload_memory import ROOT, Session, _free_port

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/riskapp_bench"
USERNAME = "manager"  # generate_projects makes this user a member of every generated project


@dataclass(frozen=True)
class BenchDatabase:
    env: dict[str, str]  # the environment for manage.py and gunicorn on this database
    password: str  # of USERNAME, set afresh on every run
    data_dir: Path


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")


def _database_ready(url: str, *, reuse: bool) -> bool:
    """Drop and create the database (or, reusing it, check that it is there); False when PostgreSQL is not."""
    import psycopg

    parts = urllib.parse.urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    try:
        with psycopg.connect(url if reuse else admin, autocommit=True, connect_timeout=5) as connection:
            if not reuse:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
                connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        print(f"benchmark skipped: PostgreSQL at {admin} is not reachable or has no {name} to reuse ({error}).")
        return False
    return True


def prepare_database(args: argparse.Namespace) -> BenchDatabase | None:
    """The benchmark database, migrated and filled (or reused with --reuse); None when PostgreSQL is not there."""
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if not _database_ready(url, reuse=args.reuse):
        return None
    data_dir = Path(tempfile.mkdtemp(prefix="riskapp-web-bench-"))
    password = secrets.token_urlsafe(16)
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(
        {
            "DATABASE_URL": url,
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "RISKAPP_DATA_DIR": str(data_dir),
        }
    )
    manage(env, "migrate", "-v0")
    # DEBUG off serves static files through whitenoise's manifest: collect them, as a deployment does.
    manage(env, "collectstatic", "--noinput", "-v0")
    if args.reuse:
        manage(env, "shell", "-v", "0", "-c",
               f"from django.contrib.auth.models import User; u = User.objects.get(username='{USERNAME}');"
               f"u.set_password('{password}'); u.save()")  # fmt: skip
    else:
        started = time.perf_counter()
        manage(env, "generate_projects", "--projects", str(args.projects), "--jobs", str(args.jobs),
               "--user", USERNAME, "--password", password)  # fmt: skip
        print(f"generated {args.projects} projects and {args.jobs} jobs in {time.perf_counter() - started:.0f} s")
    return BenchDatabase(env, password, data_dir)


@contextlib.contextmanager
def gunicorn(database: BenchDatabase, *, workers: int, log: Path | None = None) -> Iterator[int]:
    """gunicorn (sync workers) on a free port, serving once the sign-in page answers 200; yields the port."""
    port = _free_port()
    output = log.open("w") if log else subprocess.DEVNULL
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "riskapp.wsgi:application", "--workers", str(workers),
         "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=database.env, stdout=output, stderr=output,
    )  # fmt: skip
    try:
        for _ in range(300):
            try:
                if Session(port).request("GET", "/accounts/login/").status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not answer 200 on the sign-in page within 60 s")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)
        if log:
            output.close()


def signed_in_session(port: int, password: str) -> Session:
    session = Session(port)
    session.request("GET", "/accounts/login/")
    if "csrftoken" not in session.cookies:
        raise RuntimeError("the sign-in page set no CSRF cookie")
    response = session.form("/accounts/login/", {"username": USERNAME, "password": password})
    if response.status != 302:
        raise RuntimeError(f"sign-in failed with HTTP {response.status}")
    return session


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.web")
    add_database_arguments(parser)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args(argv)
    database = prepare_database(args)
    if database is None:
        return
    with gunicorn(database, workers=2) as port:
        session = signed_in_session(port, database.password)
        project_id, job_id = _ids(database.env)
        pages = {
            "portfolio, first page (worst band first)": "/portfolio/",
            "portfolio, filtered and sorted by name": "/portfolio/?band=high&sort=name&dir=asc",
            "project risk page": f"/projects/{project_id}/risk/",
            "project overview": f"/projects/{project_id}/",
            "risk register": f"/projects/{project_id}/assessment/register/",
            "job result page (robustness curve)": f"/projects/{project_id}/jobs/{job_id}/",
        }
        print(f"{args.requests} sequential requests per page after 5 warm-up requests; gunicorn, 2 workers")
        print(f"{'page':<44} {'HTTP':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for label, path in pages.items():
            for _ in range(5):
                session.request("GET", path)
            times, status = [], None
            for _ in range(args.requests):
                began = time.perf_counter()
                status = session.request("GET", path).status
                times.append((time.perf_counter() - began) * 1000)
            print(
                f"{label:<44} {status:>4} {statistics.median(times):8.1f} {percentile(times, 0.95):8.1f} "
                f"{max(times):8.1f}"
            )


def manage(env: dict[str, str], *args: str) -> str:
    """Run a management command on the benchmark database; returns its standard output."""
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True
    ).stdout


def _ids(env: dict[str, str]) -> tuple[int, int]:
    code = (
        "from riskapp.jobs.models import Job;"
        "job = Job.objects.filter(kind='robustness_curve').order_by('id').first();"
        "print(job.project_id, job.pk)"
    )
    out = manage(env, "shell", "-v", "0", "-c", code).split()
    return int(out[0]), int(out[1])


if __name__ == "__main__":
    main()
