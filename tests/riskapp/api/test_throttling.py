"""Uploads and job creation are throttled per user: a clear 429 with Retry-After, and nothing is created."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from riskapp.artifacts.models import ModelArtifact
from riskapp.jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    def set_rates(uploads="100/hour", job_create="100/hour"):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"uploads": uploads, "job_create": job_create},
        }

    return set_rates


def test_job_creation_over_the_rate_is_a_429_with_retry_after(team, api_for, rates):
    rates(job_create="2/minute")
    api = api_for(team.assessor)
    url = f"/api/v1/projects/{team.project.pk}/jobs/create/"
    for _ in range(2):
        assert api.post(url, {"kind": "environment_check"}, format="json").status_code == 201
    response = api.post(url, {"kind": "environment_check"}, format="json")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    detail = response.json()["detail"]
    assert detail.startswith("Too many new jobs: you may make 2 per minute. Expected available in")
    assert Job.objects.count() == 2


def test_uploads_over_the_rate_are_a_429_and_store_nothing(team, api_for, rates):
    rates(uploads="1/hour")
    api = api_for(team.assessor)
    url = f"/api/v1/projects/{team.project.pk}/models/upload/"
    # First bytes an ONNX file may start with (field 1, a small varint), which the upload pre-check lets through.
    first = api.post(url, {"file": SimpleUploadedFile("a.onnx", b"\x08\x07first")}, format="multipart")
    assert first.status_code == 201
    second = api.post(url, {"file": SimpleUploadedFile("b.onnx", b"\x08\x07second")}, format="multipart")
    assert second.status_code == 429 and int(second["Retry-After"]) > 60
    assert second.json()["detail"].startswith("Too many uploads: you may make 1 per hour.")
    assert ModelArtifact.objects.count() == 1


def test_each_user_has_their_own_count(team, api_for, rates):
    rates(job_create="1/minute")
    url = f"/api/v1/projects/{team.project.pk}/jobs/create/"
    assert api_for(team.assessor).post(url, {"kind": "environment_check"}, format="json").status_code == 201
    assert api_for(team.owner).post(url, {"kind": "environment_check"}, format="json").status_code == 201
    assert api_for(team.owner).post(url, {"kind": "environment_check"}, format="json").status_code == 429


def test_reads_are_not_throttled(team, api_for, rates):
    rates(job_create="1/minute", uploads="1/minute")
    api = api_for(team.viewer)
    for _ in range(5):
        assert api.get(f"/api/v1/projects/{team.project.pk}/jobs/").status_code == 200
