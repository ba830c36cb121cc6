"""Real Celery workers against a real Redis started by the test: jobs survive killed workers.

The worker subprocess shares the test database (the SQLite test file, or PostgreSQL when
DATABASE_URL is set). Without a redis-server binary these tests skip, unless
RISKAPP_REQUIRE_SERVICES=1 (as in CI), where they fail instead.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from riskapp.audit.models import AuditEvent
from riskapp.jobs import services
from riskapp.jobs.models import Job, JobStatus

ROOT = Path(__file__).resolve().parents[3]
REQUIRE_SERVICES = os.environ.get("RISKAPP_REQUIRE_SERVICES") == "1"

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def missing(what):
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (RISKAPP_REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} not available")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture
def redis_url(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--maxmemory-policy",
            "noeviction",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    wait_for(lambda: _ping(client), 10, "redis-server to answer")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


def _ping(client):
    try:
        return client.ping()
    except Exception:
        return False


def database_url():
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(redis_url, tmp_path, monkeypatch):
    """start(**env) -> a running `celery worker -P prefork -c 1` on both queues; stopped at the end."""
    from riskapp.celery import app

    # Messages from the code under test go to this Redis.
    def send(*, job_id, queue):
        with app.connection_for_write(redis_url) as conn:
            app.send_task(services.RUN_JOB_TASK, args=[job_id], queue=queue, connection=conn)

    monkeypatch.setattr("riskapp.jobs.services.job_send", send)
    started = []

    def start(**extra_env):
        log_path = tmp_path / f"worker-{len(started)}.log"
        env = {
            **os.environ,
            "DEBUG": "1",
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url,
            "RISKAPP_DATA_DIR": str(settings.DATA_DIR),
            "RISKAPP_RESTORE_INTERVAL": "1",
            **extra_env,
        }
        log = log_path.open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "riskapp",
                "worker",
                "-P",
                "prefork",
                "-c",
                "1",
                "-Q",
                "cpu,gpu",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"test-{uuid.uuid4().hex[:8]}@%h",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append((proc, log, log_path))
        return proc

    yield start
    for proc, log, log_path in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
        print(f"--- {log_path.name} ---\n{log_path.read_text()[-3000:]}")


def create(team, kind, **parameters):
    return services.job_create(user=team.assessor, project=team.project, kind=kind, parameters=parameters)


def job_state(job_id):
    return Job.objects.get(pk=job_id)


def running_with_progress(job_id, attempts=None):
    job = job_state(job_id)
    running = job.status == JobStatus.RUNNING and job.progress > 0 and job.sandbox_pid
    return job if running and attempts in (None, job.attempts) else None


def test_a_real_worker_runs_an_environment_check_end_to_end(team, worker):
    worker()
    job = create(team, "environment_check", queue="cpu")
    finished = wait_for(lambda: job_state(job.pk).is_finished and job_state(job.pk), 120, "the job to finish")
    assert finished.status == JobStatus.SUCCEEDED, finished.error
    assert finished.attempts == 1 and finished.progress == 100
    assert finished.result["adversarial_robustness_toolbox"] == "1.20.1"
    assert finished.worker == socket.gethostname() and finished.worker_pid != os.getpid()
    assert not pid_alive(finished.sandbox_pid)


def test_a_job_whose_pool_child_is_killed_finishes_exactly_once_on_the_second_attempt(team, worker):
    worker()
    job = create(team, "speed_check", queue="gpu", duration_s=6, size=64)
    first = wait_for(lambda: running_with_progress(job.pk), 120, "the job to be running")
    os.kill(first.worker_pid, signal.SIGKILL)

    finished = wait_for(lambda: job_state(job.pk).is_finished and job_state(job.pk), 120, "the job to finish")
    assert finished.status == JobStatus.SUCCEEDED, finished.error
    assert finished.attempts == 2
    assert finished.worker_pid != first.worker_pid
    assert AuditEvent.objects.filter(target_type="job", target_id=str(job.pk), action="job.succeeded").count() == 1
    assert not AuditEvent.objects.filter(target_id=str(job.pk), action__in=["job.failed", "job.timed_out"]).exists()
    # The first attempt's sandbox died with its worker instead of running on as an orphan.
    wait_for(lambda: not pid_alive(first.sandbox_pid), 10, "the orphaned sandbox to die")


def test_a_job_that_kills_its_worker_every_time_fails_at_the_attempts_cap(team, worker):
    worker(RISKAPP_JOB_MAX_ATTEMPTS="2")
    job = create(team, "speed_check", queue="gpu", duration_s=60, size=64)
    for attempt in (1, 2):
        running = wait_for(lambda a=attempt: running_with_progress(job.pk, a), 120, f"attempt {attempt}")
        os.kill(running.worker_pid, signal.SIGKILL)  # what an out-of-memory kill does to the pool child

    finished = wait_for(lambda: job_state(job.pk).is_finished and job_state(job.pk), 120, "the job to fail")
    assert finished.status == JobStatus.FAILED
    assert finished.attempts == 2
    assert "Stopped after 2 attempt(s)" in finished.error


def test_cancel_reaches_a_job_running_on_a_real_worker(team, worker):
    worker()
    job = create(team, "speed_check", queue="gpu", duration_s=60, size=64)
    wait_for(lambda: running_with_progress(job.pk), 120, "the job to be running")
    services.job_cancel(actor=team.assessor, job=job_state(job.pk))
    finished = wait_for(lambda: job_state(job.pk).is_finished and job_state(job.pk), 60, "the job to stop")
    assert finished.status == JobStatus.CANCELLED and finished.error == "Cancelled by request."
