"""A fair queue: a user's upload is taken in without waiting behind long attacks (its own `interactive` queue
and worker), and background work (the demo's tests) gives way to a user's job on the same queue.

The first tests run in the test process; the last ones start real workers laid out as `make run` does, on the
filesystem broker and on a Redis of their own (skipped without redis-server unless RISKAPP_REQUIRE_SERVICES=1).
"""

import pytest
from django.conf import settings

from riskapp.artifacts.models import DatasetArtifact, IntakeStatus
from riskapp.artifacts.services import dataset_add_demo
from riskapp.jobs import services
from riskapp.jobs.execute import job_execute
from riskapp.jobs.models import Job, JobPriority, JobStatus
from tests.processes import wait_for
from tests.riskapp.jobs.real_services import CeleryProcesses, create, job_state, running_with_progress


def background(team, kind="environment_check", **parameters):
    job = create(team, kind, **parameters)
    assert services.jobs_to_background(jobs=[job]) == 1
    job.refresh_from_db()
    return job


@pytest.mark.django_db
def test_a_users_upload_is_taken_in_on_the_interactive_queue(team, sent_jobs, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        added = dataset_add_demo(actor=team.assessor, project=team.project)
    intake_ids = {dataset.intake_job_id for dataset in added}
    assert len(intake_ids) == 2
    assert {queue for job_id, queue in sent_jobs if job_id in intake_ids} == {"interactive"}


@pytest.mark.django_db
def test_background_work_gives_way_to_a_users_job_waiting_on_its_queue(team, sent_jobs):
    demo = background(team, queue="gpu")
    users = create(team, "environment_check", queue="gpu")
    assert users.priority == JobPriority.NORMAL

    assert services.job_to_run(job_id=demo.pk) == users.pk
    assert sent_jobs[-1] == (demo.pk, "gpu")  # back to the end of its queue, still queued
    assert job_state(demo.pk).status == JobStatus.QUEUED


@pytest.mark.django_db
def test_a_delivery_of_background_work_runs_the_users_job_first(team, sent_jobs):
    demo = background(team, queue="cpu")
    users = create(team, "environment_check", queue="cpu")

    assert job_execute(job_id=demo.pk) == JobStatus.SUCCEEDED
    assert job_state(users.pk).status == JobStatus.SUCCEEDED
    assert job_state(demo.pk).status == JobStatus.QUEUED
    assert sent_jobs[-1] == (demo.pk, "cpu")
    # Its re-sent message runs it once nothing more urgent waits.
    assert job_execute(job_id=demo.pk) == JobStatus.SUCCEEDED


@pytest.mark.django_db
def test_background_work_runs_when_the_waiting_job_is_on_another_queue_or_background_too(team, sent_jobs):
    demo = background(team, queue="gpu")
    create(team, "environment_check", queue="cpu")
    background(team, queue="gpu")
    sent_before = list(sent_jobs)
    assert services.job_to_run(job_id=demo.pk) == demo.pk
    assert sent_jobs == sent_before


@pytest.mark.django_db
def test_a_users_job_is_never_deferred(team, sent_jobs):
    first = create(team, "environment_check", queue="gpu")
    create(team, "environment_check", queue="gpu")
    assert services.job_to_run(job_id=first.pk) == first.pk


# --- real workers, laid out as `make run` lays them out ---------------------------------------------


def _filesystem_send(monkeypatch):
    """Messages from the test process go to the filesystem broker of the test's data directory, as the
    workers started below (with no REDIS_URL) read it; queues left over from earlier runs are emptied."""
    from kombu import Connection

    from riskapp.celery import app

    broker = settings.DATA_DIR / "broker"
    options = {
        "data_folder_in": str(broker / "queue"),
        "data_folder_out": str(broker / "queue"),
        "processed_folder": str(broker / "processed"),
        "control_folder": str(broker / "control"),
        "store_processed": False,
    }
    for sub in ("queue", "processed", "control"):
        (broker / sub).mkdir(parents=True, exist_ok=True)
    for message in (broker / "queue").glob("*.msg"):
        message.unlink(missing_ok=True)

    def send(*, job_id, queue):
        with Connection("filesystem://", transport_options=options) as conn:
            app.send_task(services.RUN_JOB_TASK, args=[job_id], queue=queue, connection=conn)

    monkeypatch.setattr("riskapp.jobs.services.job_send", send)


@pytest.fixture(params=["filesystem", "redis"])
def workers(request, tmp_path, monkeypatch):
    """workers(queues=..., concurrency=1) -> a running `celery worker` on those queues, on either broker."""
    if request.param == "redis":
        yield request.getfixturevalue("celery_processes").worker  # a Redis of the test's own
        return
    _filesystem_send(monkeypatch)
    processes = CeleryProcesses("", tmp_path)  # no REDIS_URL: the filesystem broker
    yield processes.worker
    processes.stop_all()


def finished(job_id):
    job = job_state(job_id)
    return job if job.is_finished else None


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_an_upload_is_taken_in_while_long_attacks_hold_the_attack_worker(team, workers):
    workers(queues="cpu,gpu")
    workers(queues="interactive")
    long_jobs = [create(team, "speed_check", queue="gpu", duration_s=600, size=64) for _ in range(2)]
    wait_for(lambda: running_with_progress(long_jobs[0].pk), 180, "the first long job to run")

    added = dataset_add_demo(actor=team.assessor, project=team.project)
    for dataset in added:
        wait_for(lambda d=dataset: finished(d.intake_job_id), 180, f"the intake of {dataset.name}")
    assert set(DatasetArtifact.objects.filter(project=team.project).values_list("status", flat=True)) == {
        IntakeStatus.READY
    }
    # Taken in while the long jobs still hold the attack worker and its queue.
    assert job_state(long_jobs[0].pk).status == JobStatus.RUNNING
    assert job_state(long_jobs[1].pk).status == JobStatus.QUEUED
    for job in long_jobs:
        services.job_cancel(actor=team.assessor, job=job_state(job.pk))


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_users_job_overtakes_the_demos_queued_tests(team, workers):
    workers(queues="gpu")
    running = background(team, "speed_check", queue="gpu", duration_s=600, size=64)
    waiting = [background(team, queue="gpu") for _ in range(3)]
    wait_for(lambda: running_with_progress(running.pk), 180, "the demo's first test to run")
    users = create(team, "environment_check", queue="gpu")
    services.job_cancel(actor=team.assessor, job=job_state(running.pk))  # the worker takes its next message

    for job in (users, *waiting):
        wait_for(lambda j=job: finished(j.pk), 180, f"job {job.pk} to finish")
    first_demo_start = min(job_state(job.pk).started_at for job in waiting)
    assert job_state(users.pk).status == JobStatus.SUCCEEDED
    assert job_state(users.pk).started_at < first_demo_start
    assert {job_state(job.pk).status for job in waiting} == {JobStatus.SUCCEEDED}
    assert Job.objects.filter(pk__in=[job.pk for job in waiting], attempts=1).count() == 3
