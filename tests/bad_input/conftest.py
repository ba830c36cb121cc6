"""The world every bad-input case runs in: the team's project with one object of every kind, models and data
that passed intake, another project nobody of the team is in, and signed-in clients for every role."""

from types import SimpleNamespace

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from rest_framework.test import APIClient

from riskapp.accounts.services import api_token_create
from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact
from riskapp.gates.models import QualityGate
from riskapp.jobs.models import Job, JobStatus
from riskapp.projects.services import project_create
from tests.attacks.conftest import canary  # noqa: F401
from tests.riskapp.api.conftest import fresh_throttle_counts, objects  # noqa: F401

ROLES = ("owner", "assessor", "reviewer", "viewer", "outsider")


def _stored(artifact_class, project, name: str, digit: str, extension: str, **fields):
    """A model or dataset row with a small stored file, without the intake (its status comes in `fields`)."""
    return artifact_class.objects.create(
        project=project,
        name=name,
        original_name=f"{name}{extension}",
        sha256=digit * 64,
        size=3,
        file=ContentFile(b"abc", name=f"{name}.upload"),
        **fields,
    )


def _model(project, name: str, digit: str, **fields) -> ModelArtifact:
    return _stored(ModelArtifact, project, name, digit, ".safetensors", **fields)


def _dataset(project, name: str, digit: str, **fields) -> DatasetArtifact:
    return _stored(DatasetArtifact, project, name, digit, ".npz", **fields)


READY = {"status": IntakeStatus.READY}
READY_MODEL = {**READY, "architecture": "cnn-digits", "num_classes": 10, "input_shape": [1, 8, 8]}
READY_DATA = {**READY, "intake": {"samples": 500, "input_shape": [1, 8, 8], "x_range": [0.0, 1.0]}}


class World(SimpleNamespace):
    def api(self, who: str | None = "owner") -> APIClient:
        """An API client presenting a token of `who` (None: no credentials)."""
        return self.api_clients[who] if who else APIClient()

    def browser(self, who: str = "owner") -> Client:
        """A browser signed in as `who`."""
        return self.browsers[who]

    def api_url(self, rest: str = "") -> str:
        return f"/api/v1/projects/{self.project.pk}/{rest}"

    def page(self, rest: str = "") -> str:
        return f"/projects/{self.project.pk}/{rest}"


@pytest.fixture
def world(team, objects, settings):  # noqa: F811 - the fixtures imported above
    """The team's project with `objects` (a model and a dataset still being checked, jobs, a gate, a viewer's
    membership); a student, its teacher and evaluation data that passed intake; and another project, with
    one object of every kind, that only the outsider is in."""
    project = team.project
    other = project_create(user=team.outsider, name="Outsider's project", risk_appetite="low")
    tokens = {who: api_token_create(user=getattr(team, who), name="bad input")[1] for who in ROLES}
    api_clients = {}
    for who, secret in tokens.items():
        api_clients[who] = APIClient()
        api_clients[who].credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    browsers = {}
    for who in ROLES:
        browsers[who] = Client()
        browsers[who].force_login(getattr(team, who))
    teacher = _model(project, "hub teacher", "1", role="teacher", **READY_MODEL)
    other_job = Job.objects.create(project=other, kind="environment_check", queue="cpu", status=JobStatus.RUNNING)
    return World(
        team=team,
        project=project,
        objects=objects,
        settings=settings,
        api_clients=api_clients,
        browsers=browsers,
        teacher=teacher,
        student=_model(project, "student", "2", role="student", parent=teacher, **READY_MODEL),
        data=_dataset(project, "digits", "3", purpose="evaluation", **READY_DATA),
        other=SimpleNamespace(
            project=other,
            model=_model(other, "theirs", "4", **READY_MODEL),
            dataset=_dataset(other, "theirs", "5", **READY_DATA),
            job=other_job,
            gate=QualityGate.objects.create(project=other, kind="no_backdoor_flag"),
            membership=other.memberships.get(),
        ),
    )
