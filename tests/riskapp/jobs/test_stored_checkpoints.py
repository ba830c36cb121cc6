"""A job's checkpoint outlives its attempt through the storage API, on local disk and in an S3 bucket: each new
epoch's checkpoint a task writes is stored (the latest only), the next attempt's folder gets it back intact, and
what the untrusted task could slip in (links, oversized files) is never stored."""

import os
from datetime import timedelta

import pytest
import torch
from django.utils import timezone

from attacks.hardening import checkpoint as engine_checkpoint
from riskapp.jobs import services
from riskapp.jobs.checkpoints import StoredCheckpoint
from riskapp.jobs.models import Job, JobStatus
from tests.riskapp.jobs.s3_server import s3_server  # noqa: F401 - the fixture

KEY = "run-key"


@pytest.fixture(params=["local", "s3"])
def storage(request, settings, tmp_path):
    """Riskapp's default storage: the files folder, or a fresh bucket on a real S3 API server."""
    if request.param == "s3":
        server = request.getfixturevalue("s3_server")
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "riskapp.storage.HashedS3Storage",
                "OPTIONS": server.storage_options(server.new_bucket()),
            },
        }
    else:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": tmp_path / "files"},
            },
        }
    return request.param


def write_epoch(folder, epoch: int) -> dict[str, torch.Tensor]:
    """What the hardening task writes after `epoch`: weights, Adam's state, the JSON that names them."""
    model = torch.nn.Linear(4, 3)
    torch.nn.init.constant_(model.weight, float(epoch))
    optimiser = torch.optim.Adam(model.parameters())
    model(torch.ones(2, 4)).sum().backward()
    optimiser.step()
    state = engine_checkpoint.Checkpoint(
        epoch=epoch,
        model=model.state_dict(),
        optimiser=optimiser.state_dict(),
        rng={"batches": torch.tensor([epoch])},
        data={"history": [{"epoch": n} for n in range(1, epoch + 1)]},
    )
    engine_checkpoint.save(folder, KEY, state)
    return model.state_dict()


def epochs_stored(stored: StoredCheckpoint) -> list[tuple[int, str]]:
    """(epoch, kind of file) of each stored file, from its name `<epoch>-<sha256>.<kind>`."""
    return sorted((int(name.split("-")[0]), name.rsplit(".", 1)[1]) for name in stored.stored_names())


def attempt_folder(tmp_path, name):
    return tmp_path / name / "checkpoint"


def test_each_new_epoch_is_stored_and_only_the_latest_kept(storage, tmp_path):
    first = attempt_folder(tmp_path, "attempt-1")
    first.parent.mkdir()
    stored = StoredCheckpoint(job_id=7)
    assert stored.fetch_into(first) == 0  # nothing stored yet: the task starts from its first epoch
    stored.keep_latest()
    assert stored.stored_names() == []  # the task has written nothing yet

    write_epoch(first, 1)
    stored.keep_latest()
    assert epochs_stored(stored) == [(1, "json"), (1, "safetensors")]
    weights = write_epoch(first, 2)
    stored.keep_latest()
    assert epochs_stored(stored) == [(2, "json"), (2, "safetensors")]

    second = attempt_folder(tmp_path, "attempt-2")  # the next attempt, on this worker or another
    second.parent.mkdir()
    assert StoredCheckpoint(job_id=7).fetch_into(second) == 2
    resumed = engine_checkpoint.load(second, KEY)
    assert resumed is not None and resumed.epoch == 2 and resumed.data["history"][-1] == {"epoch": 2}
    assert all(resumed.model[name].equal(tensor) for name, tensor in weights.items())
    assert StoredCheckpoint(job_id=8).stored_names() == []  # per job

    StoredCheckpoint(job_id=7).discard()
    assert StoredCheckpoint(job_id=7).stored_names() == []
    third = attempt_folder(tmp_path, "attempt-3")
    third.parent.mkdir()
    assert StoredCheckpoint(job_id=7).fetch_into(third) == 0 and list(third.iterdir()) == []


def test_weights_changed_in_storage_are_not_handed_to_the_next_attempt(storage, tmp_path):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    folder = attempt_folder(tmp_path, "attempt-1")
    folder.parent.mkdir()
    stored = StoredCheckpoint(job_id=7)
    stored.fetch_into(folder)
    write_epoch(folder, 1)
    stored.keep_latest()
    [weights] = [name for name in stored.stored_names() if name.endswith(".safetensors")]
    default_storage.delete(f"checkpoints/job-7/{weights}")
    default_storage.save(f"checkpoints/job-7/{weights}", ContentFile(b"not the stored weights"))

    second = attempt_folder(tmp_path, "attempt-2")
    second.parent.mkdir()
    assert StoredCheckpoint(job_id=7).fetch_into(second) == 0  # starts over rather than loading damaged weights
    assert list(second.iterdir()) == []


def test_a_link_planted_by_the_task_is_not_followed(storage, tmp_path):
    secret = tmp_path / "worker-secret"
    secret.write_bytes(b"the worker's own file")
    folder = attempt_folder(tmp_path, "attempt-1")
    folder.parent.mkdir()
    stored = StoredCheckpoint(job_id=7)
    stored.fetch_into(folder)
    write_epoch(folder, 1)
    weights = folder / "checkpoint.safetensors.epoch-1"
    weights.unlink()
    weights.symlink_to(secret)
    stored.keep_latest()
    assert stored.stored_names() == []

    # The whole folder swapped for a link to a folder the worker can read, holding a valid-looking checkpoint.
    elsewhere = tmp_path / "elsewhere"
    write_epoch(elsewhere, 2)
    os.rename(folder, tmp_path / "attempt-1" / "moved")
    folder.symlink_to(elsewhere)
    stored.keep_latest()
    assert stored.stored_names() == []


def test_a_checkpoint_over_the_size_limit_is_not_kept(storage, tmp_path, monkeypatch):
    monkeypatch.setattr("riskapp.jobs.checkpoints.MAX_CHECKPOINT_BYTES", 500)
    folder = attempt_folder(tmp_path, "attempt-1")
    folder.parent.mkdir()
    stored = StoredCheckpoint(job_id=7)
    stored.fetch_into(folder)
    write_epoch(folder, 1)
    assert (folder / "checkpoint.safetensors.epoch-1").stat().st_size > 500
    stored.keep_latest()
    assert stored.stored_names() == []


@pytest.mark.django_db
def test_a_job_ended_by_the_reconciler_or_cancelled_while_queued_leaves_no_stored_checkpoint(
    storage, team, settings, tmp_path, django_capture_on_commit_callbacks
):
    """However a checkpointing job ends, not only by its own worker: nothing will resume from its checkpoint."""
    settings.JOB_MAX_ATTEMPTS, settings.JOB_HEARTBEAT_TIMEOUT = 2, 30
    stalled, queued = (
        Job.objects.create(project=team.project, kind="hardening", parameters={}, created_by=team.assessor)
        for _ in range(2)
    )
    for job in (stalled, queued):
        folder = attempt_folder(tmp_path, f"job-{job.pk}")
        folder.parent.mkdir()
        stored = StoredCheckpoint(job_id=job.pk)
        stored.fetch_into(folder)
        write_epoch(folder, 1)
        stored.keep_latest()
        assert epochs_stored(stored) == [(1, "json"), (1, "safetensors")]
    Job.objects.filter(pk=stalled.pk).update(
        status=JobStatus.RUNNING, attempts=2, heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.jobs_reconcile().failed_at_cap == 1
        services.job_cancel(actor=team.assessor, job=queued)
    assert StoredCheckpoint(job_id=stalled.pk).stored_names() == []
    assert StoredCheckpoint(job_id=queued.pk).stored_names() == []
