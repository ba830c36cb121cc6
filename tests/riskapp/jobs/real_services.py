"""Helpers for tests that run jobs on real services: a Redis server started by the test on its own
port, real `celery worker` and `celery beat` subprocesses, and the test database they share.

The fixtures that use them live in conftest.py. Without a redis-server binary these tests skip,
unless RISKAPP_REQUIRE_SERVICES=1 (as in CI), where they fail instead.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from riskapp.audit.models import AuditEvent
from riskapp.jobs import services
from riskapp.jobs.models import Job, JobStatus
from tests.processes import free_port, wait_for

ROOT = Path(__file__).resolve().parents[3]
REQUIRE_SERVICES = os.environ.get("RISKAPP_REQUIRE_SERVICES") == "1"


def missing(what):
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (RISKAPP_REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} not available")


def process_group_members(pgid):
    """The live (not zombie) processes of a group; a sandbox leads its own group."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue  # gone meanwhile
        if int(group) == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def process_group_alive(pgid):
    return bool(process_group_members(pgid))


class RedisServer:
    """redis-server with the append-only file on, in its own folder, on a port of its own."""

    def __init__(self, folder: Path):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            missing("redis-server")
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None
        import redis

        self.client = redis.Redis(port=self.port)

    def start(self):
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--maxmemory-policy",
                "noeviction",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._ping, 10, "redis-server to answer")

    def _ping(self):
        try:
            return self.client.ping()
        except Exception:
            return False

    def crash_and_restart(self):
        """SIGKILL the server (no clean shutdown) and start it again from its append-only file."""
        self.proc.kill()
        self.proc.wait(10)
        self.client.connection_pool.disconnect()
        self.start()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def queued(self, queue):
        """The raw messages waiting on a queue (kombu keeps one Redis list per queue and priority)."""
        keys = [key for key in self.client.keys(f"{queue}*") if self.client.type(key) == b"list"]
        return {key: self.client.lrange(key, 0, -1) for key in keys}

    def queued_job_ids(self, queue):
        """The job ids that the messages waiting on a queue carry, one per message."""
        ids = []
        for messages in self.queued(queue).values():
            for raw in messages:
                message = json.loads(raw)
                args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
                ids.append(args[0])
        return ids


def database_url(application_name=""):
    """The test database as a URL for a subprocess; on PostgreSQL its connections carry application_name."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    query = f"?application_name={application_name}" if application_name else ""
    return f"postgres://{auth}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}{query}"


@dataclass
class CeleryProcess:
    proc: subprocess.Popen
    log_path: Path
    name: str

    @property
    def pid(self):
        return self.proc.pid

    @property
    def db_application_name(self):
        """What its PostgreSQL connections call themselves in pg_stat_activity."""
        return f"riskapp-{self.name}"

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, marker=" ready.", timeout=120):
        """Wait for the line that says it started (a worker consumes from its queues); returns time.time()."""
        wait_for(lambda: marker in self.log(), timeout, f"{self.name} to log {marker!r}")
        return time.time()

    def kill(self):
        """SIGKILL the whole process group: the main process, its pool children, nothing left to clean up."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


class CeleryProcesses:
    """Starts `celery worker` / `celery beat` subprocesses against one Redis; stops them all at the end."""

    def __init__(self, redis_url, folder: Path):
        self.redis_url = redis_url
        self.folder = folder
        self.started: list[tuple[CeleryProcess, object]] = []

    def _spawn(self, role, args, extra_env):
        name = f"{role}-{len(self.started)}-{uuid.uuid4().hex[:8]}"
        log_path = self.folder / f"{name}.log"
        env = {
            **os.environ,
            "DEBUG": "1",
            "DATABASE_URL": database_url(application_name=f"riskapp-{name}"),
            "REDIS_URL": self.redis_url,
            "RISKAPP_DATA_DIR": str(settings.DATA_DIR),
            "RISKAPP_RESTORE_INTERVAL": "1",
            **extra_env,
        }
        if role == "worker":  # a node name of its own, so that no two workers look like one
            args = [*args, "-n", f"{name}@%h"]
        log = log_path.open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "riskapp", *args, "--loglevel", "INFO"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started = CeleryProcess(proc=proc, log_path=log_path, name=name)
        self.started.append((started, log))
        return started

    def worker(self, concurrency=1, queues="interactive,cpu,gpu", **extra_env):
        """A running `celery worker -P prefork` on `queues` (default: all of riskapp's)."""
        args = ["worker", "-P", "prefork", "-c", str(concurrency), "-Q", queues]
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        return self._spawn("worker", args, extra_env)

    def beat(self, **extra_env):
        """A running `celery beat` (the reconciler's clock), with its schedule file in the test's folder."""
        schedule = self.folder / f"beat-schedule-{len(self.started)}"
        return self._spawn("beat", ["beat", "--schedule", str(schedule)], extra_env)

    def stop_all(self):
        for started, log in self.started:
            if started.proc.poll() is None:
                # Nothing is left to keep at the end of a test, and a warm shutdown takes seconds.
                started.kill()
            log.close()
            print(f"--- {started.log_path.name} ---\n{started.log()[-3000:]}")


def create(team, kind, **parameters):
    return services.job_create(user=team.assessor, project=team.project, kind=kind, parameters=parameters)


def job_state(job_id):
    return Job.objects.get(pk=job_id)


def finished(job_id):
    job = job_state(job_id)
    return job if job.is_finished else None


def running_with_progress(job_id, attempts=None):
    job = job_state(job_id)
    running = job.status == JobStatus.RUNNING and job.progress > 0 and job.sandbox_pid
    return job if running and attempts in (None, job.attempts) else None


def audit_actions(job_id):
    """The job's audit trail as a list of actions, oldest first."""
    events = AuditEvent.objects.filter(target_type="job", target_id=str(job_id)).order_by("pk")
    return list(events.values_list("action", flat=True))
