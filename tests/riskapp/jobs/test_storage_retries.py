"""A transient storage error (a reset connection, a damaged download) while a worker fetches a job's inputs or
stores its outputs is tried again with backoff; after the last try the job fails with a message that says so.
Storage here is a fake remote backend that fails the first calls it is told to (no network)."""

import hashlib
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, default_storage

from riskapp.jobs import services
from riskapp.jobs.execute import job_execute
from riskapp.jobs.inputs import StoredInputError, job_inputs
from riskapp.jobs.models import Job, JobStatus
from riskapp.storage import TRANSFER_ATTEMPTS


class FlakyStorage(Storage):
    """A remote storage (no local paths) that records SHA-256s, and whose next calls fail as `plan` says:
    plan["open"] / plan["save"] list what the next calls of each do: "reset" (a connection reset),
    "truncate" (open only: a copy cut short), "missing" (open only: no such file); then they work."""

    plan: dict[str, list[str]] = {"open": [], "save": []}
    calls: dict[str, int] = {"open": 0, "save": 0}

    def __init__(self, location: str) -> None:
        self.inner = FileSystemStorage(location=location)

    def _next(self, operation: str) -> str:
        FlakyStorage.calls[operation] += 1
        return FlakyStorage.plan[operation].pop(0) if FlakyStorage.plan[operation] else "ok"

    def _open(self, name, mode="rb"):
        what = self._next("open")
        if what == "reset":
            raise ConnectionResetError(104, "Connection reset by peer")
        if what == "missing":
            raise FileNotFoundError(name)
        if what == "truncate":
            return ContentFile(self.inner.open(name).read()[:3], name=name)
        return self.inner._open(name, mode)

    def _save(self, name, content):
        if self._next("save") == "reset":
            raise ConnectionResetError(104, "Connection reset by peer")
        return self.inner._save(name, content)

    def exists(self, name):
        return self.inner.exists(name)

    def delete(self, name):
        self.inner.delete(name)

    def size(self, name):
        return self.inner.size(name)

    def sha256(self, name: str) -> str:
        return hashlib.sha256(Path(self.inner.path(name)).read_bytes()).hexdigest()


@pytest.fixture
def flaky(settings, tmp_path, monkeypatch):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": f"{__name__}.FlakyStorage", "OPTIONS": {"location": str(tmp_path / "bucket")}},
    }
    settings.JOB_SANDBOX_DIR = tmp_path / "sandbox"
    settings.JOB_SANDBOX_WARM = False
    FlakyStorage.plan = {"open": [], "save": []}
    FlakyStorage.calls = {"open": 0, "save": 0}
    waits = []
    monkeypatch.setattr("riskapp.storage.time.sleep", waits.append)
    return waits


def fetch(name, tmp_path):
    with job_inputs(
        job_id=7, file_params=("model_path",), parameters={"model_path": name}, private_dir=tmp_path / "sandbox"
    ) as (params, _inputs):
        return Path(params["model_path"]).read_bytes()


def test_a_download_cut_by_a_reset_connection_is_tried_again_with_a_growing_wait(flaky, tmp_path):
    name = default_storage.save("weights/m.safetensors", ContentFile(b"model bytes"))
    FlakyStorage.plan["open"] = ["reset", "reset"]
    assert fetch(name, tmp_path) == b"model bytes"
    assert FlakyStorage.calls["open"] == 3 and flaky == [0.5, 1.0]


def test_a_damaged_download_is_fetched_again_and_then_passes_its_check(flaky, tmp_path):
    name = default_storage.save("weights/m.safetensors", ContentFile(b"model bytes"))
    FlakyStorage.plan["open"] = ["truncate"]
    assert fetch(name, tmp_path) == b"model bytes"
    assert FlakyStorage.calls["open"] == 2


def test_after_the_last_try_the_download_fails_with_a_message_that_names_the_file(flaky, tmp_path):
    name = default_storage.save("weights/m.safetensors", ContentFile(b"model bytes"))
    FlakyStorage.plan["open"] = ["reset"] * TRANSFER_ATTEMPTS
    with pytest.raises(StoredInputError, match=f"{name} could not be downloaded from storage in 3 tries"):
        fetch(name, tmp_path)
    assert FlakyStorage.calls["open"] == TRANSFER_ATTEMPTS == 3
    assert list((tmp_path / "sandbox").iterdir()) == []  # no partial copy left behind


def test_a_copy_that_stays_damaged_is_refused_as_not_matching_its_sha256(flaky, tmp_path):
    name = default_storage.save("weights/m.safetensors", ContentFile(b"model bytes"))
    FlakyStorage.plan["open"] = ["truncate"] * TRANSFER_ATTEMPTS
    with pytest.raises(StoredInputError, match="does not match the SHA-256 recorded when it was stored"):
        fetch(name, tmp_path)


def test_a_missing_file_is_not_tried_again(flaky, tmp_path):
    FlakyStorage.plan["open"] = ["missing"]
    with pytest.raises(StoredInputError, match="is missing from storage"):
        fetch("weights/gone.safetensors", tmp_path)
    assert FlakyStorage.calls["open"] == 1 and flaky == []


@pytest.mark.django_db
def test_an_output_upload_cut_by_a_reset_connection_is_tried_again(flaky, team):
    job = services.job_create(
        user=team.assessor, project=team.project, kind="speed_check", parameters={"duration_s": 1, "size": 64}
    )
    FlakyStorage.plan["save"] = ["reset"]
    assert job_execute(job_id=job.pk) == JobStatus.SUCCEEDED
    job_file = Job.objects.get(pk=job.pk).files.get()
    assert job_file.name == "batch_times.csv" and default_storage.open(job_file.file.name).read().startswith(b"batch")
    assert FlakyStorage.calls["save"] == 2


@pytest.mark.django_db
def test_a_job_whose_output_cannot_be_stored_fails_with_a_message_that_says_so(flaky, team):
    job = services.job_create(
        user=team.assessor, project=team.project, kind="speed_check", parameters={"duration_s": 1, "size": 64}
    )
    FlakyStorage.plan["save"] = ["reset"] * TRANSFER_ATTEMPTS
    assert job_execute(job_id=job.pk) == JobStatus.FAILED
    job = Job.objects.get(pk=job.pk)
    assert job.error.startswith("The job's output batch_times.csv could not be stored in 3 tries")
    assert not job.files.exists()
