"""Fault drills: real Redis, real `celery worker` and `celery beat` subprocesses, the real test database.

Each drill breaks something a deployment can lose (a whole worker, the broker, the worker's database
connection, a broker message, the sandbox) and checks that every job still ends exactly once, as its
Job row records. The reconciler runs as in production: `celery beat` sends it on its schedule and a
worker runs it, with intervals shortened through the environment so that each drill takes seconds.
A killed pool child and a job that kills its worker every time (the attempts cap): test_worker.py.
"""

import hashlib
import io
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from riskapp.artifacts.models import DatasetArtifact, IntakeStatus
from riskapp.artifacts.services import dataset_upload
from riskapp.audit.models import AuditEvent
from riskapp.jobs.models import Job, JobStatus
from tests.processes import pid_alive, wait_for
from tests.riskapp.jobs.real_services import (
    REQUIRE_SERVICES,
    audit_actions,
    create,
    finished,
    job_state,
    process_group_alive,
    process_group_members,
    running_with_progress,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

# The shortest reconciler settings allow: a running job is presumed lost 5 s after its last
# heartbeat, and beat sends the reconciler every 5 s.
HEARTBEAT_TIMEOUT_S = 5
RECONCILE_EVERY_S = 5
RECONCILER = {"RISKAPP_JOB_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S)}
BEAT = {"RISKAPP_RECONCILE_EVERY": str(RECONCILE_EVERY_S)}
# Scheduling latency on a busy two-core machine (beat's tick, the task's dispatch and its queries).
SLACK_S = 5
# Long enough for the sandbox to import torch on a busy machine and report progress first.
TIME_LIMIT_S = 8


def rss_bytes(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def process_name(pid):
    return Path(f"/proc/{pid}/comm").read_text().strip()


def group_rss_bytes(pgid):
    """Resident memory of a process group: the sandbox (and, under bubblewrap, the task inside)."""
    total = 0
    for pid in process_group_members(pgid):
        try:
            total += rss_bytes(pid)
        except OSError:
            continue  # gone meanwhile
    return total


def group_rss_over(pgid, threshold):
    rss = group_rss_bytes(pgid)
    return rss if rss > threshold else None


def upload_datasets(team, count):
    """`count` small, distinct .npz datasets uploaded through the service: one intake job each (the
    cheapest real job: a scan and a numpy round trip in the sandbox, no torch)."""
    rng = np.random.default_rng(0)
    artifacts = []
    for index in range(count):
        buffer = io.BytesIO()
        np.savez(buffer, x=rng.random((16, 1, 8, 8), dtype=np.float32), y=np.arange(16) % 4)
        data = buffer.getvalue()
        artifacts.append(
            dataset_upload(
                actor=team.assessor,
                project=team.project,
                upload=SimpleUploadedFile(f"set-{index}.npz", data),
                sha256=hashlib.sha256(data).hexdigest(),
                name=f"set {index}",
                purpose="evaluation",
            )
        )
    return artifacts


def test_a_job_whose_whole_worker_is_killed_runs_again_on_a_new_worker_within_the_restore_time(team, worker, beat):
    first = worker(**RECONCILER)
    reconciler_clock = beat(**BEAT)  # its own process, as in production: it outlives the worker
    job = create(team, "speed_check", queue="gpu", duration_s=2, size=64)
    running = wait_for(lambda: running_with_progress(job.pk), 120, "the job to be running")
    first.kill()  # the main process and its pool child at once: nobody is left to reject the message
    wait_for(lambda: not pid_alive(running.worker_pid), 10, "the pool child to be gone")
    wait_for(lambda: not process_group_alive(running.sandbox_pid), 10, "the sandbox to die with its worker")
    last_heartbeat = job_state(job.pk).heartbeat_at.timestamp()

    worker_ready = worker(**RECONCILER).wait_ready()
    beat_started = reconciler_clock.wait_ready(marker="beat: Starting")
    done = wait_for(lambda: finished(job.pk), 120, "the job to finish on the new worker")
    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.attempts == 2 and done.worker_pid != running.worker_pid
    assert audit_actions(job.pk) == ["job.created", "job.requeued", "job.succeeded"]
    assert done.files.count() == 1  # one run's output, not two
    # The restore time: once a worker and beat run, a job is requeued at most a heartbeat
    # timeout plus one reconciler interval after its last heartbeat.
    requeued_at = AuditEvent.objects.get(target_id=str(job.pk), action="job.requeued").created_at.timestamp()
    services_up = max(last_heartbeat, beat_started, worker_ready)
    assert requeued_at - services_up <= HEARTBEAT_TIMEOUT_S + RECONCILE_EVERY_S + SLACK_S


def test_fifty_queued_jobs_survive_redis_crashes_and_each_succeeds_exactly_once(team, redis_server, worker, beat):
    artifacts = upload_datasets(team, 50)
    job_ids = [artifact.intake_job_id for artifact in artifacts]
    assert sorted(redis_server.queued_job_ids("interactive")) == sorted(job_ids)
    # With nothing consuming, every message must come back from the append-only file.
    redis_server.crash_and_restart()  # SIGKILL: no clean shutdown
    assert sorted(redis_server.queued_job_ids("interactive")) == sorted(job_ids)

    # Now crash it again under a working worker: the jobs running then are requeued once their
    # heartbeat stops, and the messages the worker had taken but not started come back through
    # the reconciler (their copy waits in Redis's unacked set for the visibility timeout).
    worker(concurrency=2, RISKAPP_JOB_REQUEUE_AFTER="5", **RECONCILER)
    beat(**BEAT)

    def succeeded():
        return Job.objects.filter(pk__in=job_ids, status=JobStatus.SUCCEEDED).count()

    wait_for(lambda: succeeded() >= 3, 120, "the first jobs to succeed")
    redis_server.crash_and_restart()

    wait_for(lambda: Job.objects.filter(pk__in=job_ids, finished_at__isnull=False).count() == 50, 180, "all 50 jobs")
    jobs = Job.objects.filter(pk__in=job_ids)
    assert set(jobs.values_list("status", flat=True)) == {JobStatus.SUCCEEDED}
    for job in jobs:
        actions = audit_actions(job.pk)
        assert actions.count("job.succeeded") == 1 and "job.failed" not in actions, (job.pk, actions)
        assert job.files.count() == 1, job.pk  # exactly one run stored its output
    # Only the jobs running when Redis went down (one per pool process) needed a second attempt.
    assert jobs.filter(attempts=1).count() >= 48 and not jobs.filter(attempts__gt=2).exists()
    statuses = DatasetArtifact.objects.filter(pk__in=[artifact.pk for artifact in artifacts])
    assert set(statuses.values_list("status", flat=True)) == {IntakeStatus.READY}


def require_postgresql():
    if connection.vendor == "postgresql":
        return
    if REQUIRE_SERVICES and os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        pytest.fail("DATABASE_URL is PostgreSQL, but the test database is not")
    pytest.skip("cutting the worker's database connection needs PostgreSQL; the test database is SQLite")


def worker_backends(application_name):
    """The pids of the test database's connections that carry this application_name."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            [application_name],
        )
        return {pid for (pid,) in cursor.fetchall()}


def terminate_backends(pids):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [sorted(pids)])
        return all(terminated for (terminated,) in cursor.fetchall())


def database_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def allow_connections(allowed):
    """Let new connections into the test database, or refuse them (a database that is down or failing over).

    PostgreSQL takes this from a connection to another database: the maintenance database.
    """
    import psycopg
    from psycopg import sql

    db = connection.settings_dict
    credentials = {"user": db["USER"], "password": db["PASSWORD"]}
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        dbname="postgres",
        autocommit=True,
        **{key: value for key, value in credentials.items() if value},
    ) as admin:
        admin.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
                sql.Identifier(db["NAME"]), sql.SQL("true" if allowed else "false")
            )
        )


def cut_connections(worker):
    """Terminate the worker's database connections; returns the database's clock once they are gone."""
    cut = worker_backends(worker.db_application_name)
    assert cut, "the worker has no database connection to terminate"
    assert terminate_backends(cut)
    wait_for(lambda: not cut & worker_backends(worker.db_application_name), 10, "the backends to end")
    return database_now()


def test_a_worker_whose_database_connection_is_terminated_mid_job_reconnects_and_finishes_it(team, worker):
    require_postgresql()
    running_worker = worker()
    job = create(team, "speed_check", queue="gpu", duration_s=8, size=64)
    wait_for(lambda: running_with_progress(job.pk), 120, "the job to be running")

    # A connection ended by an administrator: the next heartbeat reconnects at once.
    cut_at = cut_connections(running_worker)
    wait_for(lambda: job_state(job.pk).heartbeat_at > cut_at, 5, "a heartbeat over a new connection")

    # The database refuses connections for a few seconds (a restart, a failover): the job runs on,
    # unrecorded, and its heartbeats come back with the database.
    allow_connections(False)
    try:
        cut_at = cut_connections(running_worker)
        time.sleep(3)  # three heartbeats that cannot reach the database
        assert job_state(job.pk).heartbeat_at < cut_at
    finally:
        allow_connections(True)
    wait_for(lambda: job_state(job.pk).heartbeat_at > cut_at, 5, "a heartbeat once the database is back")

    done = wait_for(lambda: finished(job.pk), 120, "the job to finish")
    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.attempts == 1  # reconnected in place: the cuts cost no attempt
    assert audit_actions(job.pk) == ["job.created", "job.succeeded"]
    assert done.files.count() == 1


def test_a_sandbox_that_crashes_every_time_is_retried_then_failed_at_the_attempts_cap_and_the_worker_lives_on(
    team, worker
):
    running_worker = worker(RISKAPP_JOB_MAX_ATTEMPTS="2")
    job = create(team, "speed_check", queue="gpu", duration_s=30, size=64)
    for attempt in (1, 2):
        running = wait_for(lambda n=attempt: running_with_progress(job.pk, attempts=n), 120, f"attempt {attempt}")
        # What a loader's native crash on a hostile model file looks like to the worker: the task
        # process (inside bubblewrap, when the sandbox uses it) dies of a segmentation fault.
        (task_pid,) = [pid for pid in process_group_members(running.sandbox_pid) if process_name(pid) != "bwrap"]
        os.kill(task_pid, signal.SIGSEGV)
        wait_for(lambda pid=running.sandbox_pid: not process_group_alive(pid), 10, "the sandbox's processes to exit")

    done = wait_for(lambda: finished(job.pk), 60, "the job to fail")
    assert done.status == JobStatus.FAILED
    assert done.error.startswith("The sandboxed task crashed (signal SIGSEGV) before it reported a result.")
    assert "crashed on each of its 2 attempts" in done.error and "smaller batch size" in done.error
    assert done.attempts == 2
    assert audit_actions(job.pk) == ["job.created", "job.requeued", "job.failed"]
    assert pid_alive(running.worker_pid) and running_worker.proc.poll() is None  # the worker survived


def test_a_job_over_its_time_limit_on_a_real_worker_is_timed_out_its_sandbox_gone_and_memory_freed(team, worker):
    worker(RISKAPP_JOB_TIME_LIMIT=str(TIME_LIMIT_S))
    job = create(team, "speed_check", queue="gpu", duration_s=120, size=512)
    running = wait_for(lambda: running_with_progress(job.pk), 60, "the job to be running")
    # torch and the job's tensors live in the sandbox, not in the worker.
    sandbox_rss = wait_for(lambda: group_rss_over(running.sandbox_pid, 100 * 1024**2), 30, "the sandbox to load torch")
    worker_rss = rss_bytes(running.worker_pid)

    done = wait_for(lambda: finished(job.pk), 60, "the job to time out")
    assert done.status == JobStatus.TIMED_OUT
    assert f"ran past its time limit of {TIME_LIMIT_S} s" in done.error
    assert 0 < done.progress < 100 and done.attempts == 1
    # The sandbox and everything it started are gone (killed with their process group, they need
    # at most a moment to exit), so their memory is back with the system; the worker did not take it over.
    assert not pid_alive(running.sandbox_pid)
    wait_for(lambda: not process_group_alive(running.sandbox_pid), 5, "the sandbox's processes to exit")
    assert pid_alive(running.worker_pid)
    assert rss_bytes(running.worker_pid) - worker_rss < sandbox_rss / 2


def test_the_reconciler_recovers_a_job_whose_broker_message_was_deleted(team, redis_server, worker, beat):
    (artifact,) = upload_datasets(team, 1)
    job = job_state(artifact.intake_job_id)
    assert redis_server.queued_job_ids("interactive") == [job.pk]
    ((key, messages),) = redis_server.queued("interactive").items()
    redis_server.client.lrem(key, 1, messages[0])  # the message is lost; only the Job row remembers
    assert not any(redis_server.queued("interactive").values())

    worker(RISKAPP_JOB_REQUEUE_AFTER="5")
    beat(**BEAT)
    done = wait_for(lambda: finished(job.pk), 120, "the reconciler to bring the job back")
    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.attempts == 1 and done.enqueued_at > job.enqueued_at  # enqueued again by the reconciler
    assert audit_actions(job.pk) == ["job.created", "job.succeeded"]
    artifact.refresh_from_db()
    assert artifact.status == IntakeStatus.READY
