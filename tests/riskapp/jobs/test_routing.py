"""Routing by need: with memory tiers a job goes to the smallest tier that holds its model and data, a worker
takes only the tiers its memory holds, and a job too big for every worker is refused before it is queued."""

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from riskapp.jobs import routing, services
from riskapp.jobs.models import Job
from tests.riskapp.test_settings import load_settings

GB = 1024**3


def test_without_tiers_a_job_goes_to_its_kinds_pool():
    assert routing.queue_for_need(pool="gpu", input_bytes=100 * GB, tiers_gb=[]) == "gpu"


@pytest.mark.parametrize(("input_gb", "queue"), [(0, "gpu-16g"), (4, "gpu-16g"), (4.01, "gpu-80g"), (20, "gpu-80g")])
def test_a_job_goes_to_the_smallest_tier_that_holds_four_times_its_inputs(input_gb, queue):
    assert routing.queue_for_need(pool="gpu", input_bytes=int(input_gb * GB), tiers_gb=[80, 16]) == queue


def test_a_job_bigger_than_the_largest_tier_is_refused_with_the_sizes():
    with pytest.raises(ValidationError) as refused:
        routing.queue_for_need(pool="gpu", input_bytes=30 * GB, tiers_gb=[16, 80])
    assert refused.value.messages == [
        "This job loads 30.00 GB of model and data and needs about 120.0 GB of memory; the largest workers hold "
        "80 GB (RISKAPP_MEMORY_TIERS_GB). Use a smaller model or sample, or ask an administrator to add a worker "
        "with more memory and its tier."
    ]


def test_a_worker_takes_the_tiers_of_its_pools_that_its_memory_holds():
    assert routing.worker_queues(pools=["gpu"], memory_gb=24, tiers_gb=[16, 80]) == ["gpu-16g"]
    assert routing.worker_queues(pools=["cpu", "gpu"], memory_gb=80, tiers_gb=[16, 80]) == [
        "cpu-16g",
        "cpu-80g",
        "gpu-16g",
        "gpu-80g",
    ]
    assert routing.worker_queues(pools=["gpu"], memory_gb=8, tiers_gb=[16, 80]) == []
    assert routing.worker_queues(pools=["gpu"], memory_gb=None, tiers_gb=[]) == []


def test_a_worker_that_does_not_declare_its_memory_refuses_to_start_when_jobs_are_routed_by_size():
    with pytest.raises(ImproperlyConfigured, match="declare what this worker holds with RISKAPP_WORKER_MEMORY_GB"):
        routing.worker_queues(pools=["gpu"], memory_gb=None, tiers_gb=[16])


@pytest.mark.django_db
def test_job_create_routes_a_job_by_the_stored_size_of_its_inputs(
    team, settings, sent_jobs, django_capture_on_commit_callbacks
):
    settings.JOB_MEMORY_TIERS_GB = [0.1, 16]
    small = default_storage.save("weights/small.safetensors", ContentFile(b"w" * 1000))
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(
            user=team.assessor,
            project=team.project,
            kind="validation",
            parameters={"model_id": 1, "dataset_id": 1, "model_path": small, "data_path": small},
        )
    pool = Job.objects.get(pk=job.pk).queue.rsplit("-", 1)
    assert pool[1] == "0.1g" and sent_jobs == [(job.pk, job.queue)]  # the message goes to the tier's queue
    # 30 MB stored: 120 MB needed, over the 0.1 GB tier.
    big = default_storage.save("weights/big.safetensors", ContentFile(b"w" * (30 * 1024**2)))
    bigger = services.job_create(
        user=team.assessor,
        project=team.project,
        kind="validation",
        parameters={"model_id": 1, "dataset_id": 1, "model_path": big, "data_path": small},
    )
    assert bigger.queue == f"{pool[0]}-16g"


@pytest.mark.django_db
def test_an_environment_check_without_inputs_goes_to_the_smallest_tier_of_its_pool(team, settings):
    settings.JOB_MEMORY_TIERS_GB = [16, 80]
    job = services.job_create(
        user=team.assessor, project=team.project, kind="environment_check", parameters={"queue": "cpu"}
    )
    assert job.queue == "cpu-16g"


def test_a_memory_tier_queue_with_a_long_name_is_stored_whole(team, settings):
    settings.JOB_MEMORY_TIERS_GB = [16, 80]
    job = services.job_create(
        user=team.assessor, project=team.project, kind="environment_check", parameters={"queue": "cpu"}
    )
    # A 1 MiB tier of a pool with a descriptive name: 34 characters (PostgreSQL refuses a value past the column).
    long_name = routing.tier_queue("gpu-large-memory-pool", 1 / 1024)
    Job.objects.filter(pk=job.pk).update(queue=long_name)
    assert Job.objects.get(pk=job.pk).queue == long_name == "gpu-large-memory-pool-0.000976562g"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RISKAPP_STORAGE": "ftp"}, "RISKAPP_STORAGE must be local or s3, not 'ftp'"),
        ({"RISKAPP_STORAGE": "s3"}, "RISKAPP_STORAGE=s3 needs RISKAPP_S3_BUCKET"),
        (
            {"RISKAPP_STORAGE": "s3", "RISKAPP_S3_BUCKET": "b", "AWS_ACCESS_KEY_ID": "k"},
            "Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither",
        ),
        (
            {"RISKAPP_STORAGE": "s3", "RISKAPP_S3_BUCKET": "b", "AWS_S3_ENDPOINT_URL": "minio:9000"},
            "AWS_S3_ENDPOINT_URL must start with http:// or https://",
        ),
        ({"RISKAPP_MEMORY_TIERS_GB": "16,lots"}, "RISKAPP_MEMORY_TIERS_GB must list sizes in GB (e.g. 16,80)"),
        ({"RISKAPP_MEMORY_TIERS_GB": "0"}, "RISKAPP_MEMORY_TIERS_GB must list positive sizes in GB"),
        ({"RISKAPP_MEMORY_TIERS_GB": "0.125"}, "write each tier in at most three characters"),
        ({"RISKAPP_WORKER_MEMORY_GB": "24,80"}, "RISKAPP_WORKER_MEMORY_GB must be one size in GB"),
    ],
)
def test_incomplete_storage_or_routing_configuration_stops_start_up(tmp_path, env, message):
    clean = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_S3_ENDPOINT_URL": ""}
    result = load_settings(tmp_path, DEBUG="1", **{**clean, **env})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_s3_storage_is_configured_from_the_environment(tmp_path):
    code = "import json; print(json.dumps(settings.STORAGES['default'], default=str))"
    result = load_settings(
        tmp_path,
        code=code,
        DEBUG="1",
        RISKAPP_STORAGE="s3",
        RISKAPP_S3_BUCKET="riskapp-files",
        AWS_S3_ENDPOINT_URL="http://minio:9000",
        AWS_ACCESS_KEY_ID="key",
        AWS_SECRET_ACCESS_KEY="secret",
    )
    assert result.returncode == 0, result.stderr
    assert '"BACKEND": "riskapp.storage.HashedS3Storage"' in result.stdout
    assert '"bucket_name": "riskapp-files"' in result.stdout and '"endpoint_url": "http://minio:9000"' in result.stdout


@pytest.mark.django_db
def test_a_job_whose_stored_input_is_gone_is_refused_when_routed_by_size(team, settings):
    settings.JOB_MEMORY_TIERS_GB = [16]
    with pytest.raises(ValidationError, match="The stored file weights/gone.safetensors is missing from storage"):
        services.job_create(
            user=team.assessor,
            project=team.project,
            kind="validation",
            parameters={"model_id": 1, "dataset_id": 1, "model_path": "weights/gone.safetensors", "data_path": "x"},
        )
    assert not Job.objects.exists()
