"""A claimed job runs in the sandbox and its outcome lands in the Job row (no broker here)."""

import os
import threading
import time

import pytest
from django.db import connection
from django.urls import reverse

from riskapp.audit.models import AuditEvent
from riskapp.jobs import services
from riskapp.jobs.execute import job_execute
from riskapp.jobs.kinds import KINDS, JobKind, SpeedCheckForm
from riskapp.jobs.models import Job, JobStatus
from tests.processes import pid_alive


def create(team, kind, **parameters):
    return services.job_create(user=team.assessor, project=team.project, kind=kind, parameters=parameters)


@pytest.mark.django_db
def test_environment_check_runs_to_success_and_reports_the_worker(team):
    job = create(team, "environment_check")
    assert job_execute(job_id=job.pk) == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.progress == 100 and job.attempts == 1
    import numpy
    import torch

    assert job.result["torch"] == torch.__version__ and job.result["numpy"] == numpy.__version__
    assert job.result["adversarial_robustness_toolbox"] == "1.20.1"
    assert job.result["cuda_available"] is torch.cuda.is_available()
    assert job.result["cpu_count"] == os.cpu_count()
    assert job.started_at <= job.finished_at and job.sandbox_pid and not pid_alive(job.sandbox_pid)


@pytest.mark.django_db
def test_job_page_shows_the_result_to_a_viewer(team, client_for):
    job = create(team, "environment_check")
    job_execute(job_id=job.pk)
    page = client_for(team.viewer).get(reverse("projects:jobs:detail", args=[team.project.pk, job.pk]))
    html = page.content.decode()
    assert "Succeeded" in html and "adversarial_robustness_toolbox" in html and "1.20.1" in html


@pytest.mark.django_db
def test_speed_check_keeps_its_output_file_through_the_storage_api(team, client_for, settings):
    job = create(team, "speed_check", duration_s=1, size=64)
    assert job_execute(job_id=job.pk) == JobStatus.SUCCEEDED
    job.refresh_from_db()
    job_file = job.files.get()
    assert job.result["files"] == ["batch_times.csv"] and job.result["gflops_best"] > 0
    assert job_file.file.name.startswith("jobs/") and "batch_times" not in job_file.file.name  # server-made name
    assert os.path.realpath(job_file.file.path).startswith(str(settings.DATA_DIR))
    response = client_for(team.viewer).get(reverse("projects:jobs:file", args=[team.project.pk, job.pk, job_file.pk]))
    body = b"".join(response.streaming_content)
    assert body.startswith(b"batch,seconds\n")
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    outsider = client_for(team.outsider).get(reverse("projects:jobs:file", args=[team.project.pk, job.pk, job_file.pk]))
    assert outsider.status_code == 404


@pytest.mark.django_db
def test_a_job_over_its_time_limit_is_timed_out_and_its_process_gone(team, settings):
    settings.JOB_TIME_LIMIT = 8  # long enough to import torch on a busy machine and report progress first
    job = create(team, "speed_check", duration_s=120, size=64)
    assert job_execute(job_id=job.pk) == JobStatus.TIMED_OUT
    job.refresh_from_db()
    assert job.status == JobStatus.TIMED_OUT and "time limit of 8 s" in job.error
    assert 0 < job.progress < 100
    assert not pid_alive(job.sandbox_pid)
    assert not list(settings.JOB_SANDBOX_DIR.glob(f"riskapp-job-{os.getpid()}-*"))  # private folder removed


@pytest.mark.django_db
def test_a_task_error_the_user_can_fix_is_shown_as_is(team, monkeypatch):
    # The form allows what the engine refuses only if they disagree; force the engine's own check.
    job = create(team, "speed_check", duration_s=1)
    Job.objects.filter(pk=job.pk).update(parameters={"duration_s": 1, "size": 3})
    assert job_execute(job_id=job.pk) == JobStatus.FAILED
    job.refresh_from_db()
    assert job.error == "size must be between 16 and 8192."


@pytest.mark.django_db
def test_a_task_that_crashes_every_time_is_retried_then_failed_at_the_attempts_cap(
    team, monkeypatch, settings, sent_jobs, django_capture_on_commit_callbacks
):
    settings.JOB_MAX_ATTEMPTS = 3
    crash = JobKind(name="crash", label="Crash", description="", engine_task="sandbox_selftest", form=SpeedCheckForm)
    monkeypatch.setitem(KINDS, "crash", crash)
    job = Job.objects.create(project=team.project, kind="crash", queue="cpu", parameters={"behaviour": "crash"})
    for attempt in (1, 2):
        with django_capture_on_commit_callbacks(execute=True):
            assert job_execute(job_id=job.pk) == JobStatus.QUEUED
        job.refresh_from_db()
        assert job.attempts == attempt
        assert job.progress_message.startswith(f"Requeued after attempt {attempt} of 3: The sandboxed task crashed")
    assert sent_jobs == [(job.pk, "cpu"), (job.pk, "cpu")]  # sent again after each crash
    assert job_execute(job_id=job.pk) == JobStatus.FAILED
    job.refresh_from_db()
    assert job.attempts == 3
    assert "crashed (signal SIGABRT)" in job.error and "crashed on each of its 3 attempts" in job.error
    actions = AuditEvent.objects.filter(target_type="job", target_id=str(job.pk)).order_by("pk")
    assert list(actions.values_list("action", flat=True)) == ["job.requeued", "job.requeued", "job.failed"]


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_running_job_stops_it_between_batches(team):
    job = create(team, "speed_check", duration_s=60, size=64)

    def cancel_when_running():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            current = Job.objects.get(pk=job.pk)
            if current.status == JobStatus.RUNNING and current.progress > 0:
                services.job_cancel(actor=team.assessor, job=current)
                break
            time.sleep(0.1)
        connection.close()

    canceller = threading.Thread(target=cancel_when_running)
    canceller.start()
    started = time.monotonic()
    status = job_execute(job_id=job.pk)
    canceller.join()
    job.refresh_from_db()
    assert status == JobStatus.CANCELLED and job.status == JobStatus.CANCELLED
    assert time.monotonic() - started < 30
    assert job.error == "Cancelled by request."  # stopped cooperatively, not killed
    assert not pid_alive(job.sandbox_pid)


@pytest.mark.django_db(transaction=True)
def test_a_task_that_ignores_cancel_is_killed_after_the_grace_period(team, settings, monkeypatch):
    settings.JOB_CANCEL_GRACE = 1
    hang = JobKind(name="hang", label="Hang", description="", engine_task="sandbox_selftest", form=SpeedCheckForm)
    monkeypatch.setitem(KINDS, "hang", hang)
    job = Job.objects.create(
        project=team.project, kind="hang", queue="cpu", parameters={"behaviour": "hang", "seconds": 60}
    )

    def cancel_when_running():
        for _ in range(300):
            current = Job.objects.get(pk=job.pk)
            if current.sandbox_pid:
                services.job_cancel(actor=team.assessor, job=current)
                break
            time.sleep(0.1)
        connection.close()

    canceller = threading.Thread(target=cancel_when_running)
    canceller.start()
    status = job_execute(job_id=job.pk)
    canceller.join()
    job.refresh_from_db()
    assert status == JobStatus.CANCELLED and "killed" in job.error
    assert not pid_alive(job.sandbox_pid)
