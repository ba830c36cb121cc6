"""Page speed with many projects: p50 / p95 of the portfolio and project pages on gunicorn + PostgreSQL.

Creates a private PostgreSQL database (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
riskapp_bench, dropped and created again), migrates it, generates 1,000 projects with 20,000 finished
jobs (`manage.py generate_projects`), starts gunicorn (2 sync workers, DEBUG off, as in production but over
plain HTTP), signs in over HTTP and requests each page sequentially: a warm-up, then REQUESTS timed
requests each. Printed, never asserted; the target is p95 under 150 ms (benchmarks/README.md).

    .venv/bin/python -m benchmarks.web [--projects 1000] [--jobs 20000] [--requests 100]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from benchmarks.upload_memory import ROOT, Session, _free_port

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/riskapp_bench"


def _recreate_database(url: str) -> bool:
    import psycopg

    parts = urllib.parse.urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        print(f"web benchmark skipped: PostgreSQL at {admin} is not reachable ({error}).")
        return False
    return True


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.web")
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")
    args = parser.parse_args(argv)
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if not args.reuse and not _recreate_database(url):
        return
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
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    # DEBUG off serves static files through whitenoise's manifest: collect them, as a deployment does.
    subprocess.run([python, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    if args.reuse:
        _manage(env, "shell", "-v", "0", "-c",
                "from django.contrib.auth.models import User; u = User.objects.get(username='manager');"
                f"u.set_password('{password}'); u.save()")  # fmt: skip
    else:
        started = time.perf_counter()
        _manage(env, "generate_projects", "--projects", str(args.projects), "--jobs", str(args.jobs),
                "--user", "manager", "--password", password)  # fmt: skip
        print(f"generated {args.projects} projects and {args.jobs} jobs in {time.perf_counter() - started:.0f} s")
    port = _free_port()
    server = subprocess.Popen(
        [python, "-m", "gunicorn", "riskapp.wsgi:application", "--workers", "2", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        session = Session(port)
        for _ in range(300):
            try:
                if session.request("GET", "/accounts/login/").status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        if "csrftoken" not in session.cookies:
            raise RuntimeError("the sign-in page set no CSRF cookie: is the server answering 200?")
        response = session.form("/accounts/login/", {"username": "manager", "password": password})
        if response.status != 302:
            raise RuntimeError(f"sign-in failed with HTTP {response.status}")
        project_id, job_id = _ids(env)
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
                f"{label:<44} {status:>4} {statistics.median(times):8.1f} {_percentile(times, 0.95):8.1f} "
                f"{max(times):8.1f}"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def _ids(env: dict[str, str]) -> tuple[int, int]:
    code = (
        "from riskapp.jobs.models import Job;"
        "job = Job.objects.filter(kind='robustness_curve').order_by('id').first();"
        "print(job.project_id, job.pk)"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    return int(out[0]), int(out[1])


if __name__ == "__main__":
    main()
