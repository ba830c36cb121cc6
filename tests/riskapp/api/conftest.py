"""API fixtures: clients that present a user's token, and one object of every kind in the team's project."""

import itertools

import pytest
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from riskapp.accounts.services import api_token_create
from riskapp.artifacts.models import DatasetArtifact, ModelArtifact
from riskapp.assessments.models import AssessmentVersion
from riskapp.gates.models import QualityGate
from riskapp.jobs.models import Job, JobFile, JobStatus


@pytest.fixture(autouse=True)
def fresh_throttle_counts(settings, request):
    """Throttle counts live in the cache: every test gets an empty one of its own (never a shared Redis,
    which also carries the broker's queues)."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": request.node.nodeid}
    }


_token_names = itertools.count(1)


@pytest.fixture
def api_for(db):
    """api_for(user) -> an API client presenting a new token of that user (None: no credentials)."""

    def client(user):
        api = APIClient()
        if user is not None:
            _, secret = api_token_create(user=user, name=f"test token {next(_token_names)}")
            api.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
        return api

    return client


@pytest.fixture
def objects(team):
    """A finished job with a file, a running job, an assessment version, a model and a dataset."""
    project = team.project
    finished = Job.objects.create(
        project=project,
        kind="environment_check",
        queue="cpu",
        status=JobStatus.SUCCEEDED,
        attempts=1,
        result={"python": "3.11"},
    )
    job_file = JobFile.objects.create(job=finished, name="report.csv", size=4, file=ContentFile(b"a,b\n", name="r.csv"))
    running = Job.objects.create(project=project, kind="speed_check", queue="gpu", status=JobStatus.RUNNING, attempts=1)
    version = AssessmentVersion.objects.create(
        project=project, number=1, bank_version=1, answers={"context.uses_pretrained": "yes"}
    )
    model = ModelArtifact.objects.create(
        project=project,
        name="teacher",
        original_name="teacher.safetensors",
        sha256="a" * 64,
        size=3,
        file=ContentFile(b"abc", name="m.upload"),
    )
    dataset = DatasetArtifact.objects.create(
        project=project,
        name="digits",
        original_name="digits.npz",
        sha256="b" * 64,
        size=3,
        file=ContentFile(b"abc", name="d.upload"),
    )
    return {
        "gate": QualityGate.objects.create(project=project, kind="no_backdoor_flag"),
        "job": finished,
        "running_job": running,
        "file": job_file,
        "version": version,
        "model": model,
        "dataset": dataset,
        "membership": project.memberships.get(user=team.viewer),
    }
