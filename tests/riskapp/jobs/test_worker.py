"""Real Celery workers against a real Redis started by the test: jobs survive killed workers.

The worker subprocess shares the test database (the SQLite test file, or PostgreSQL when
DATABASE_URL is set). Without a redis-server binary these tests skip, unless
RISKAPP_REQUIRE_SERVICES=1 (as in CI), where they fail instead. Fixtures: conftest.py;
harsher faults (a whole worker killed, Redis restarted, the database connection cut): test_fault_drills.py.
"""

import os
import signal
import socket

import pytest

from riskapp.audit.models import AuditEvent
from riskapp.jobs import services
from riskapp.jobs.models import JobStatus
from tests.processes import pid_alive, wait_for
from tests.riskapp.jobs.real_services import audit_actions, create, job_state, running_with_progress

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_runs_an_environment_check_end_to_end(team, worker):
    worker()
    job = create(team, "environment_check", queue="cpu")
    finished = wait_for(lambda: job_state(job.pk).is_finished and job_state(job.pk), 120, "the job to finish")
    assert finished.status == JobStatus.SUCCEEDED, finished.error
    assert finished.attempts == 1 and finished.progress == 100
    assert finished.result["adversarial_robustness_toolbox"] == "1.20.1"
    assert finished.worker == socket.gethostname() and finished.worker_pid != os.getpid()
    assert not pid_alive(finished.sandbox_pid)


def test_a_worker_process_starts_a_spare_sandbox_as_it_comes_up_and_its_jobs_start_warm(team, worker):
    process = worker(RISKAPP_SANDBOX_WARM="1", RISKAPP_SANDBOX_PRELOAD="attacks.tasks,torch")
    first, second = (create(team, "environment_check", queue="cpu") for _ in range(2))
    for job in (first, second):
        finished = wait_for(lambda j=job: job_state(j.pk).is_finished and job_state(j.pk), 120, "the job to finish")
        assert finished.status == JobStatus.SUCCEEDED, finished.error
    log = process.log()
    assert f"job {first.pk}: attempt 1 ended succeeded (warm sandbox)" in log
    assert f"job {second.pk}: attempt 1 ended succeeded (warm sandbox)" in log
    assert job_state(first.pk).sandbox_pid != job_state(second.pk).sandbox_pid


def test_a_job_whose_pool_child_is_killed_finishes_exactly_once_on_the_second_attempt(team, worker):
    worker()
    job = create(team, "speed_check", queue="gpu", duration_s=6, size=64)
    first = wait_for(lambda: running_with_progress(job.pk), 120, "the job to be running")
    os.kill(first.worker_pid, signal.SIGKILL)

    finished = wait_for(lambda: job_state(job.pk).is_finished and job_state(job.pk), 120, "the job to finish")
    assert finished.status == JobStatus.SUCCEEDED, finished.error
    assert finished.attempts == 2
    assert finished.worker_pid != first.worker_pid
    # The lost first attempt is on the record too, with the worker process that died.
    assert audit_actions(job.pk) == ["job.created", "job.requeued", "job.succeeded"]
    lost = AuditEvent.objects.get(target_id=str(job.pk), action="job.requeued")
    assert lost.before["worker_pid"] == first.worker_pid and lost.after["attempts"] == 2
    assert finished.files.count() == 1  # one run's output file, not one per attempt
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
