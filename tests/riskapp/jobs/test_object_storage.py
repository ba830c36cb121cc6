"""RISKAPP_STORAGE=s3 against a real S3 API server (moto's server mode, started here): uploads land in the
bucket with their SHA-256, a worker downloads only its job's inputs into its private folder and checks them,
and a job's outputs go back to the bucket. Nothing else changes for the user."""

import hashlib
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from riskapp.artifacts.models import IntakeStatus
from riskapp.jobs.execute import job_execute
from riskapp.jobs.inputs import StoredInputError, job_inputs, storage_is_local
from riskapp.jobs.models import Job, JobStatus
from riskapp.storage import HashedS3Storage
from tests.riskapp.jobs.s3_server import s3_server  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def bucket(s3_server, settings, tmp_path):  # noqa: F811
    """A fresh bucket as riskapp's default storage; each job's private folder under tmp_path/sandbox."""
    name = s3_server.new_bucket()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "riskapp.storage.HashedS3Storage", "OPTIONS": s3_server.storage_options(name)},
    }
    settings.JOB_SANDBOX_DIR = tmp_path / "sandbox"
    settings.JOB_SANDBOX_WARM = False
    return name


def test_a_stored_file_keeps_its_sha256_in_the_bucket(s3_server, bucket):  # noqa: F811
    name = default_storage.save("uploads/a.upload", ContentFile(b"weights" * 1000))
    assert isinstance(default_storage._wrapped, HashedS3Storage) and not storage_is_local()
    head = s3_server.client.head_object(Bucket=bucket, Key=name)
    assert head["Metadata"]["sha256"] == hashlib.sha256(b"weights" * 1000).hexdigest() == default_storage.sha256(name)


def test_a_worker_downloads_only_its_inputs_to_its_private_folder_and_deletes_them_after(bucket, tmp_path):
    model = default_storage.save("weights/m.safetensors", ContentFile(b"model bytes"))
    data = default_storage.save("datasets/d.npz", ContentFile(b"data bytes"))
    default_storage.save("uploads/other.upload", ContentFile(b"another job's file"))
    parameters = {"model_path": model, "data_path": data, "sample_limit": 5}
    with job_inputs(
        job_id=7, file_params=("model_path", "data_path"), parameters=parameters, private_dir=tmp_path / "sandbox"
    ) as (params, inputs):
        assert [Path(p).read_bytes() for p in (params["model_path"], params["data_path"])] == [
            b"model bytes",
            b"data bytes",
        ]
        assert inputs == [Path(params["model_path"]), Path(params["data_path"])] and params["sample_limit"] == 5
        folder = inputs[0].parent
        assert folder.parent == tmp_path / "sandbox" and sorted(p.name for p in folder.iterdir()) == [
            "0-m.safetensors",
            "1-d.npz",
        ]
    assert not folder.exists()


def test_a_download_that_does_not_match_its_recorded_sha256_is_refused(s3_server, bucket, tmp_path):  # noqa: F811
    name = default_storage.save("weights/m.safetensors", ContentFile(b"model bytes"))
    recorded = default_storage.sha256(name)
    # The object changes in the bucket behind riskapp's back, its metadata kept.
    s3_server.client.put_object(Bucket=bucket, Key=name, Body=b"changed bytes", Metadata={"sha256": recorded})
    with (
        pytest.raises(StoredInputError, match="does not match the SHA-256 recorded when it was stored"),
        job_inputs(
            job_id=7, file_params=("model_path",), parameters={"model_path": name}, private_dir=tmp_path / "sandbox"
        ),
    ):
        pass
    assert list((tmp_path / "sandbox").iterdir()) == []  # the bad copy is not left behind


def test_a_long_download_keeps_the_jobs_heartbeat_going(bucket, tmp_path, monkeypatch):
    monkeypatch.setattr("riskapp.jobs.inputs.TICK_SECONDS", 0)  # a tick after every chunk
    name = default_storage.save("weights/big.safetensors", ContentFile(b"w" * (3 * 1024**2)))
    ticks = []
    with job_inputs(
        job_id=7,
        file_params=("model_path",),
        parameters={"model_path": name},
        private_dir=tmp_path / "sandbox",
        on_tick=lambda: ticks.append(1),
    ) as (params, _inputs):
        assert Path(params["model_path"]).stat().st_size == 3 * 1024**2
    assert len(ticks) == 3  # one per 1 MiB chunk


def test_a_stored_input_missing_from_the_bucket_is_refused_by_name(bucket, tmp_path):
    with (
        pytest.raises(StoredInputError, match="The stored file weights/gone.safetensors is missing from storage"),
        job_inputs(
            job_id=7,
            file_params=("model_path",),
            parameters={"model_path": "weights/gone.safetensors"},
            private_dir=tmp_path / "sandbox",
        ),
    ):
        pass


def test_a_job_whose_input_fails_its_check_fails_with_a_message_that_says_so(s3_server, bucket, team):  # noqa: F811
    from riskapp.artifacts.services import dataset_add_demo

    (dataset, _train) = dataset_add_demo(actor=team.assessor, project=team.project)
    s3_server.client.put_object(Bucket=bucket, Key=dataset.file.name, Body=b"truncated")  # no recorded SHA-256
    assert job_execute(job_id=dataset.intake_job_id) == JobStatus.FAILED
    job = Job.objects.get(pk=dataset.intake_job_id)
    assert job.error == f"The stored file {dataset.file.name} has no recorded SHA-256; upload it again."


def test_intake_on_s3_reads_the_upload_from_the_bucket_and_stores_its_output_there(
    s3_server,  # noqa: F811
    bucket,
    team,
    client_for,
    settings,
):
    from riskapp.artifacts.services import dataset_add_demo

    (dataset, _train) = dataset_add_demo(actor=team.assessor, project=team.project)
    assert dataset.file.name in s3_server.keys(bucket)
    assert not (settings.DATA_DIR / "files" / dataset.file.name).exists()  # not on the local disk
    assert job_execute(job_id=dataset.intake_job_id) == JobStatus.SUCCEEDED
    dataset.refresh_from_db()
    assert dataset.status == IntakeStatus.READY and dataset.normalised.name in s3_server.keys(bucket)
    normalised = s3_server.client.get_object(Bucket=bucket, Key=dataset.normalised.name)
    assert normalised["Metadata"]["sha256"] == hashlib.sha256(normalised["Body"].read()).hexdigest()
    assert list((settings.JOB_SANDBOX_DIR).glob("riskapp-job-*-inputs-*")) == []  # removed after the job
    # The user downloads it as before, through the permission-checked view.
    url = reverse("projects:artifacts:dataset_download", args=[team.project.pk, dataset.pk])
    response = client_for(team.viewer).get(url)
    assert (
        response.status_code == 200
        and b"".join(response.streaming_content) == default_storage.open(dataset.file.name).read()
    )
