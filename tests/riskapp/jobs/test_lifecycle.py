"""The Job row's life: created and enqueued on commit, claimed once, cancelled, reconciled."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from riskapp.audit.models import AuditEvent
from riskapp.jobs import services
from riskapp.jobs.models import Job, JobStatus

ATTACK = {"model_id": 1, "dataset_id": 1, "model_path": "m", "data_path": "d", "attacks": ["pgd_linf"], "eps": 0.1}


@pytest.fixture
def job(team):
    return services.job_create(user=team.assessor, project=team.project, kind="environment_check", parameters={})


def test_job_is_enqueued_only_after_its_row_is_committed(team, sent_jobs, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = services.job_create(
            user=team.assessor, project=team.project, kind="speed_check", parameters={"duration_s": 2}
        )
        assert sent_jobs == []
    for callback in callbacks:
        callback()
    assert sent_jobs == [(job.pk, "gpu")]
    assert job.parameters == {"queue": "gpu", "duration_s": 2.0, "size": 512}


def test_environment_check_can_target_the_cpu_queue(team, sent_jobs, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(
            user=team.assessor, project=team.project, kind="environment_check", parameters={"queue": "cpu"}
        )
    assert job.queue == "cpu" and sent_jobs == [(job.pk, "cpu")]


@pytest.mark.parametrize(
    ("kind", "parameters", "message"),
    [
        ("bogus", {}, "Unknown job kind 'bogus'"),
        ("speed_check", {"duration_s": 0}, "duration_s: Ensure this value is greater than or equal to 1"),
        ("speed_check", {"size": "big"}, "size: Enter a whole number"),
        ("environment_check", {"queue": "tpu"}, "queue: tpu is not a queue; choose gpu or cpu."),
        ("environment_check", {"shell": "rm -rf /"}, "Unknown parameter(s) for Environment check: shell"),
        # JSON-typed parameters take any JSON, but not what cannot be stored (jsonb refuses NUL, JSON has no NaN).
        ("attack", ATTACK | {"attacks": ["pgd_linf\x00"]}, "parameters: a NUL character (\\u0000) cannot be stored"),
        ("attack", ATTACK | {"eps": float("nan")}, "parameters: NaN and infinite numbers (such as 1e999) are not JSON"),
        ("speed_check", {"duration_s": True}, "duration_s: Give a number, not true or false."),
    ],
)
def test_bad_job_parameters_are_refused_with_a_clear_message(team, kind, parameters, message):
    with pytest.raises(ValidationError) as error:
        services.job_create(user=team.assessor, project=team.project, kind=kind, parameters=parameters)
    assert any(message in text for text in error.value.messages)
    assert not Job.objects.exists()


def test_two_deliveries_of_one_job_run_it_once(job):
    first = services.job_claim(job_id=job.pk, worker="host-a", worker_pid=1)
    second = services.job_claim(job_id=job.pk, worker="host-b", worker_pid=2)
    assert first is not None and second is None
    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker) == (JobStatus.RUNNING, 1, "host-a")


def test_a_finished_job_delivered_again_does_nothing(job):
    claimed = services.job_claim(job_id=job.pk, worker="host-a", worker_pid=1)
    assert services.job_finish(job=claimed, status=JobStatus.SUCCEEDED, result={"ok": True})
    assert services.job_claim(job_id=job.pk, worker="host-b", worker_pid=2) is None
    job.refresh_from_db()
    assert (job.status, job.attempts, job.result) == (JobStatus.SUCCEEDED, 1, {"ok": True})


def test_a_stale_attempt_cannot_finish_a_job_claimed_again(job, settings):
    settings.JOB_HEARTBEAT_TIMEOUT = 5
    first = services.job_claim(job_id=job.pk, worker="host-a", worker_pid=1)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=60))
    second = services.job_claim(job_id=job.pk, worker="host-b", worker_pid=2)
    assert second is not None and second.attempts == 2
    assert services.job_heartbeat(job=first) == "abandon"
    assert not services.job_finish(job=first, status=JobStatus.FAILED, error="late")
    assert services.job_finish(job=second, status=JobStatus.SUCCEEDED, result={})
    assert AuditEvent.objects.filter(action="job.succeeded", target_id=str(job.pk)).count() == 1
    assert not AuditEvent.objects.filter(action="job.failed").exists()


def test_a_running_job_whose_local_worker_process_died_is_claimed_again(job):
    import socket
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    services.job_claim(job_id=job.pk, worker=socket.gethostname(), worker_pid=dead.pid)
    again = services.job_claim(job_id=job.pk, worker=socket.gethostname(), worker_pid=12345)
    assert again is not None and again.attempts == 2


def test_a_lost_attempt_taken_over_by_its_redelivered_message_leaves_an_audit_event(job):
    import socket
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    services.job_claim(job_id=job.pk, worker=socket.gethostname(), worker_pid=dead.pid)
    services.job_claim(job_id=job.pk, worker=socket.gethostname(), worker_pid=12345)

    events = AuditEvent.objects.filter(target_type="job", target_id=str(job.pk)).order_by("pk")
    assert list(events.values_list("action", flat=True)) == ["job.created", "job.requeued"]
    lost = events.last()
    assert lost.before == {
        "status": JobStatus.RUNNING,
        "attempts": 1,
        "worker": socket.gethostname(),
        "worker_pid": dead.pid,
    }
    assert lost.after["attempts"] == 2
    assert lost.after["reason"] == (
        f"Attempt 1 was lost: its worker process ({socket.gethostname()}, pid {dead.pid}) is gone. Running it again."
    )


def test_a_lost_attempt_on_another_machine_is_audited_with_its_last_heartbeat(job, settings):
    settings.JOB_HEARTBEAT_TIMEOUT = 5
    services.job_claim(job_id=job.pk, worker="host-a", worker_pid=1)
    last_heartbeat = timezone.now() - timedelta(seconds=60)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=last_heartbeat)
    assert services.job_claim(job_id=job.pk, worker="host-b", worker_pid=2).attempts == 2

    lost = AuditEvent.objects.get(target_id=str(job.pk), action="job.requeued")
    assert lost.before["worker"] == "host-a" and lost.after["attempts"] == 2
    assert lost.after["reason"].startswith("Attempt 1 was lost: its worker (host-a, pid 1) sent no heartbeat since ")


def test_a_redelivered_job_at_the_attempts_cap_fails_with_a_readable_error(job, settings):
    settings.JOB_MAX_ATTEMPTS = 1
    services.job_claim(job_id=job.pk, worker="host-a", worker_pid=1)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert services.job_claim(job_id=job.pk, worker="host-b", worker_pid=2) is None
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert "Stopped after 1 attempt(s)" in job.error


def test_cancelling_a_queued_job_cancels_it_at_once(job, team):
    services.job_cancel(actor=team.assessor, job=job)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.finished_at is not None
    assert services.job_claim(job_id=job.pk) is None


def test_cancelling_a_running_job_asks_the_worker_to_stop(job, team):
    claimed = services.job_claim(job_id=job.pk, worker="host-a", worker_pid=1)
    services.job_cancel(actor=team.assessor, job=job)
    assert services.job_heartbeat(job=claimed, progress=40, message="batch 4") == "cancel"
    job.refresh_from_db()
    assert (job.status, job.progress, job.progress_message) == (JobStatus.RUNNING, 40, "batch 4")


def test_cancelling_a_finished_job_is_refused(job, team):
    claimed = services.job_claim(job_id=job.pk, worker="host-a", worker_pid=1)
    services.job_finish(job=claimed, status=JobStatus.SUCCEEDED, result={})
    with pytest.raises(ValidationError, match="already finished"):
        services.job_cancel(actor=team.assessor, job=job)


def test_cancel_button_cancels_through_the_browser(job, team, client_for):
    url = reverse("projects:jobs:cancel", kwargs={"project_id": team.project.pk, "job_id": job.pk})
    response = client_for(team.assessor).post(url, follow=True)
    assert "cancelled" in response.content.decode()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_viewer_cannot_cancel(job, team, client_for):
    url = reverse("projects:jobs:cancel", kwargs={"project_id": team.project.pk, "job_id": job.pk})
    assert client_for(team.viewer).post(url).status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_run_button_creates_a_job_through_the_browser(team, client_for, sent_jobs, django_capture_on_commit_callbacks):
    url = reverse("projects:jobs:create", kwargs={"project_id": team.project.pk})
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(team.assessor).post(
            url,
            {
                "kind": "speed_check",
                "speed_check-queue": "cpu",
                "speed_check-duration_s": "3",
                "speed_check-size": "256",
            },
            follow=True,
        )
    job = Job.objects.get()
    assert (job.kind, job.queue, job.parameters["size"], job.created_by) == ("speed_check", "cpu", 256, team.assessor)
    assert f"queued as job {job.pk}" in response.content.decode()
    assert sent_jobs == [(job.pk, "cpu")]


def test_jobs_table_polls_only_while_a_job_is_active(job, team, client_for):
    url = reverse("projects:jobs:list", kwargs={"project_id": team.project.pk})
    client = client_for(team.viewer)
    assert 'hx-trigger="every 2s"' in client.get(url).content.decode()
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    assert 'hx-trigger="every 2s"' not in client.get(url).content.decode()


# --- reconciler ---------------------------------------------------------------------------


def test_reconciler_reenqueues_a_queued_job_whose_message_was_lost(
    job, settings, sent_jobs, django_capture_on_commit_callbacks
):
    settings.JOB_REQUEUE_AFTER = 60
    sent_jobs.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.jobs_reconcile().requeued_lost_messages == 0
    Job.objects.filter(pk=job.pk).update(enqueued_at=timezone.now() - timedelta(seconds=61))
    with django_capture_on_commit_callbacks(execute=True):
        report = services.jobs_reconcile()
    assert report.requeued_lost_messages == 1 and sent_jobs == [(job.pk, "gpu")]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.jobs_reconcile().requeued_lost_messages == 0  # just re-sent: not again yet


def test_reconciler_requeues_a_running_job_whose_heartbeat_stopped(
    job, settings, sent_jobs, django_capture_on_commit_callbacks
):
    settings.JOB_HEARTBEAT_TIMEOUT = 30
    services.job_claim(job_id=job.pk, worker="host-a", worker_pid=1)
    sent_jobs.clear()
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=31))
    with django_capture_on_commit_callbacks(execute=True):
        report = services.jobs_reconcile()
    job.refresh_from_db()
    assert report.requeued_stalled == 1 and job.status == JobStatus.QUEUED and job.attempts == 1
    assert sent_jobs == [(job.pk, "gpu")]
    claimed = services.job_claim(job_id=job.pk, worker="host-b", worker_pid=2)
    assert claimed.attempts == 2


def test_reconciler_fails_a_stalled_job_at_the_attempts_cap(job, settings):
    settings.JOB_MAX_ATTEMPTS = 2
    settings.JOB_HEARTBEAT_TIMEOUT = 30
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, attempts=2, heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    assert services.jobs_reconcile().failed_at_cap == 1
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "Stopped after 2 attempt(s)" in job.error


def test_reconciler_finishes_a_stalled_job_that_was_asked_to_cancel(job, settings):
    settings.JOB_HEARTBEAT_TIMEOUT = 30
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, attempts=1, cancel_requested=True, heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    assert services.jobs_reconcile().cancelled == 1
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_reconcile_jobs_command_prints_its_report(job, settings, capsys):
    from django.core.management import call_command

    settings.JOB_REQUEUE_AFTER = 5
    Job.objects.filter(pk=job.pk).update(enqueued_at=timezone.now() - timedelta(minutes=1))
    call_command("reconcile_jobs")
    assert '"requeued_lost_messages": 1' in capsys.readouterr().out


def test_reconciler_runs_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["reconcile-jobs"]
    assert entry["task"] == "riskapp.jobs.tasks.reconcile_jobs"
    from riskapp.celery import app

    app.loader.import_default_modules()  # what a worker does at start: autodiscover tasks.py
    assert "riskapp.jobs.tasks.reconcile_jobs" in app.tasks
