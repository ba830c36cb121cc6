"""A hardening job whose first attempt is killed after its first epoch resumes there on the next attempt: the
worker stored the epoch's checkpoint through the storage API, hands it to the new attempt's sandbox, and deletes it
once the job has succeeded. The result page says after which epoch it resumed."""

import json
import os
import signal
import threading
import time

import pytest

from riskapp.jobs import execute
from riskapp.jobs.checkpoints import StoredCheckpoint
from riskapp.jobs.execute import JobRun, job_execute
from riskapp.jobs.models import Job, JobStatus
from tests.riskapp.artifacts.test_upload import upload_dataset, uploaded_model, url
from tests.riskapp.evaluations.pages import result_page

pytestmark = pytest.mark.django_db

EPOCHS = 3


class WorkerLost(BaseException):
    """The worker process dies: nothing of the attempt is recorded, the job stays running under a dead worker."""


def start_hardening(team, client, paths):
    card = {"architecture": "cnn-digits", "num_classes": 10}
    teacher = uploaded_model(client, team, paths["teacher"], name="public teacher", role="teacher", **card)
    student = uploaded_model(
        client, team, paths["student_head"], name="student", role="student", parent=teacher.pk, **card
    )
    clean = upload_dataset(client, team, paths["test"])
    client.post(
        url("model_evaluate", team, model_id=student.pk),
        {
            "kind": "hardening",
            "method": "finetune",
            "dataset": clean.pk,
            "evaluation": clean.pk,
            "epochs": EPOCHS,
            "sample_limit": 300,
        },
    )
    job = Job.objects.get(kind="hardening")
    # SQLite hands a rolled-back test's job ids out again, and the files folder is shared by the whole run: a job of
    # this id in an earlier test (whose end never committed, so never discarded) may have left its checkpoint.
    StoredCheckpoint(job_id=job.pk).discard()
    return job


@pytest.fixture
def sandbox_pids(monkeypatch, settings, tmp_path):
    """The pid of each attempt's sandbox, as the worker records it; the sandboxes' folders are this test's own."""
    settings.JOB_SANDBOX_DIR = tmp_path / "sandbox"
    pids: list[int] = []
    on_start = JobRun.on_start

    def record(run, pid):
        pids.append(pid)
        on_start(run, pid)

    monkeypatch.setattr(JobRun, "on_start", record)
    return pids


def kill_sandbox_after_epoch_one(settings, pids: list[int]) -> threading.Thread:
    """Watch the running attempt's checkpoint folder; SIGKILL its sandbox as soon as epoch 1 is checkpointed."""

    def watch():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            for state in settings.JOB_SANDBOX_DIR.glob("riskapp-job-*/checkpoint/checkpoint.json"):
                try:
                    epoch = json.loads(state.read_text())["epoch"]
                except (OSError, ValueError, KeyError):
                    continue
                if epoch >= 1 and pids:
                    os.killpg(pids[-1], signal.SIGKILL)
                    return
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    return watcher


def test_a_hardening_job_whose_sandbox_is_killed_after_epoch_one_resumes_after_it(
    team, client_for, paths, settings, sandbox_pids, django_capture_on_commit_callbacks
):
    assessor = client_for(team.assessor)
    job = start_hardening(team, assessor, paths)

    watcher = kill_sandbox_after_epoch_one(settings, sandbox_pids)
    assert job_execute(job_id=job.pk) == JobStatus.QUEUED  # crashed: requeued for another attempt
    watcher.join()
    job.refresh_from_db()
    assert "crashed (signal SIGKILL)" in job.progress_message
    stored = StoredCheckpoint(job_id=job.pk)
    assert sorted(name.split("-")[0] for name in stored.stored_names()) == ["000001", "000001"]
    assert not list(settings.JOB_SANDBOX_DIR.iterdir())  # the attempt's own folder is gone

    with django_capture_on_commit_callbacks(execute=True):  # the stored checkpoint goes once the end commits
        assert job_execute(job_id=job.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).error
    job.refresh_from_db()
    assert job.attempts == 2 and job.result["resumed_from_epoch"] == 1
    assert [row["epoch"] for row in job.result["history"]] == [1, 2, 3]
    assert stored.stored_names() == []  # the job has ended: nothing will resume from it
    assert "Resumed after epoch 1." in result_page(assessor, team, job)


def test_a_hardening_job_whose_worker_is_lost_after_epoch_one_resumes_on_the_next_delivery(
    team, client_for, paths, settings, sandbox_pids, monkeypatch, django_capture_on_commit_callbacks
):
    assessor = client_for(team.assessor)
    job = start_hardening(team, assessor, paths)
    monkeypatch.setattr(execute, "HEARTBEAT_EVERY_S", 0.02)  # a heartbeat soon after each epoch's checkpoint
    keep_latest = StoredCheckpoint.keep_latest

    def die_once_epoch_one_is_stored(checkpoint):
        keep_latest(checkpoint)
        if checkpoint.stored_stem.startswith("000001-"):
            raise WorkerLost

    monkeypatch.setattr(StoredCheckpoint, "keep_latest", die_once_epoch_one_is_stored)
    with pytest.raises(WorkerLost):
        job_execute(job_id=job.pk)
    monkeypatch.setattr(StoredCheckpoint, "keep_latest", keep_latest)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.attempts == 1  # nothing recorded: the worker "died"

    # Redelivered (late acknowledgement): the claim finds the job's worker gone and runs attempt 2.
    with django_capture_on_commit_callbacks(execute=True):  # the stored checkpoint goes once the end commits
        assert job_execute(job_id=job.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).error
    job.refresh_from_db()
    assert job.attempts == 2 and job.result["resumed_from_epoch"] == 1
    assert [row["epoch"] for row in job.result["history"]] == [1, 2, 3]
    assert StoredCheckpoint(job_id=job.pk).stored_names() == []
