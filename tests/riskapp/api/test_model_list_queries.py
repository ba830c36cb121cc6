"""The API's model list gives each model its ship verdict in a fixed number of queries per page: the answers,
register, gates and results are read once, not once per model (nor once per gate per model)."""

import hashlib

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from riskapp.artifacts.models import IntakeStatus, ModelArtifact, ModelRole
from riskapp.assessments.services import answer_set
from riskapp.gates.models import GateKind, QualityGate
from riskapp.jobs.models import Job, JobStatus
from tests.riskapp.api import conftest as api_fixtures

api_for = api_fixtures.api_for
fresh_throttle_counts = api_fixtures.fresh_throttle_counts
pytestmark = pytest.mark.django_db


def make_model(project, name: str, role=ModelRole.STUDENT, parent=None) -> ModelArtifact:
    return ModelArtifact.objects.create(
        project=project,
        name=name,
        original_name=f"{name}.safetensors",
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        size=3,
        file=ContentFile(b"abc", name="m.upload"),
        status=IntakeStatus.READY,
        role=role,
        parent=parent,
    )


def add_students(project, teacher, count: int, start: int) -> None:
    for index in range(start, start + count):
        student = make_model(project, f"student {index}", parent=teacher)
        for kind, result in (
            ("attack", {"trustworthy": True, "attacks": [{"attack": "pgd_linf", "eps": 0.03, "robust_accuracy": 0.7}]}),
            ("backdoor_scan", {"flagged_classes": [3] if index % 2 else []}),
        ):
            Job.objects.create(
                project=project,
                kind=kind,
                queue="cpu",
                status=JobStatus.SUCCEEDED,
                parameters={"model_id": student.pk},
                result=result,
            )


def test_model_list_verdict_queries_do_not_grow_with_the_number_of_models(team, api_for):
    project = team.project
    answer_set(actor=team.owner, project=project, question_id="context.uses_pretrained", raw="yes")
    answer_set(actor=team.owner, project=project, question_id="requirements.robust_accuracy_target", raw="0.6")
    QualityGate.objects.create(project=project, kind=GateKind.MAX_TRANSFER_SUCCESS, params={"threshold": 0.5})
    teacher = make_model(project, "teacher", role=ModelRole.TEACHER)
    add_students(project, teacher, 1, 0)
    api = api_for(team.viewer)
    url = f"/api/v1/projects/{project.pk}/models/"

    with CaptureQueriesContext(connection) as two_models:
        first = api.get(url)
    add_students(project, teacher, 6, 1)
    with CaptureQueriesContext(connection) as eight_models:
        response = api.get(url)

    assert first.status_code == response.status_code == 200
    verdicts = {row["name"]: row["verdict"] for row in response.json()["results"]}
    assert len(verdicts) == 8
    # The preloaded results still decide: an odd student's scan flagged class 3.
    assert "backdoor" in str(verdicts["student 1"]).lower() and verdicts["student 1"] != verdicts["student 2"]
    assert len(eight_models) == len(two_models), [q["sql"] for q in eight_models]
