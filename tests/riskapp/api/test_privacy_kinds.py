"""Membership inference and extraction through their declarations: started over the API with their own
parameters (members and query sets, budgets, the copy's start), translated from the plan's lines, and a finished
job's result (tests/fixtures/privacy) turned into evidence and drawn on its result page."""

import json
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact
from riskapp.assessments.models import Evidence
from riskapp.assessments.plan import PlannedJob
from riskapp.assessments.plan_runs import _planned_run
from riskapp.evaluations import privacy_plan
from riskapp.evaluations.kinds import job_runs_planned, plan_needs_teacher
from riskapp.jobs.kinds import get_kind
from riskapp.jobs.models import Job, JobStatus
from tests.riskapp.api.test_job_kinds import create
from tests.riskapp.evaluations.pages import result_page

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "privacy"
MEMBERSHIP_LINE = {"members": "training", "non_members": "held_out", "shadow_models": 16}
SCRATCH_LINE = {"start": "scratch", "budgets": [100, 1000, 10000]}
TEACHER_LINE = {"start": "public_teacher", "budgets": [100, 1000, 10000]}


def _dataset(team, name: str, purpose: str, samples: int) -> DatasetArtifact:
    return DatasetArtifact.objects.create(
        project=team.project,
        name=name,
        original_name=f"{name}.npz",
        sha256=name[0] * 64,
        size=3,
        file=ContentFile(b"abc", name=f"{name}.upload"),
        purpose=purpose,
        status=IntakeStatus.READY,
        intake={"samples": samples},
    )


@pytest.fixture
def ready(objects):
    ModelArtifact.objects.filter(pk=objects["model"].pk).update(status=IntakeStatus.READY, architecture="cnn-digits")
    DatasetArtifact.objects.filter(pk=objects["dataset"].pk).update(status=IntakeStatus.READY, intake={"samples": 500})
    return {"model_id": objects["model"].pk, "dataset_id": objects["dataset"].pk}


@pytest.fixture
def training(team):
    return _dataset(team, "training sample", "training", 800)


@pytest.fixture
def parent(team, objects):
    teacher = ModelArtifact.objects.create(
        project=team.project,
        name="public teacher",
        original_name="public.safetensors",
        sha256="c" * 64,
        size=3,
        file=ContentFile(b"abc", name="p.upload"),
        status=IntakeStatus.READY,
        architecture="cnn-digits",
        num_classes=10,
    )
    ModelArtifact.objects.filter(pk=objects["model"].pk).update(parent=teacher)
    return teacher


def test_membership_inference_takes_the_training_sample_as_members_and_the_evaluation_set_as_non_members(
    team, api_for, ready, training, objects
):
    api = api_for(team.assessor)
    response = create(api, team, "membership_inference", ready | {"members_id": training.pk, "shadow_models": 4})
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.kind, job.queue, job.parameters["shadow_models"]) == ("membership_inference", "gpu", 4)
    assert job.parameters["members_path"] == training.job_file
    assert job.parameters["non_members_path"] == objects["dataset"].job_file
    missing = create(api, team, "membership_inference", ready)
    assert missing.status_code == 400
    assert missing.json() == {
        "parameters": {"members_id": ["Choose a sample of the model's training data (the members)."]}
    }
    same = create(api, team, "membership_inference", ready | {"members_id": ready["dataset_id"]})
    assert same.status_code == 400 and "not the evaluation set" in same.json()["parameters"]["members_id"][0]


def test_extraction_queries_with_its_query_set_and_starts_the_copy_where_asked(team, api_for, ready, training, objects):
    api = api_for(team.assessor)
    query = {"query_id": training.pk, "budgets": [100, 500]}
    scratch = create(api, team, "extraction", ready | query)
    assert scratch.status_code == 201, scratch.json()
    parameters = Job.objects.get(pk=scratch.json()["id"]).parameters
    assert parameters["budgets"] == [100, 500] and parameters["copy_weights"] == ""
    assert (parameters["query_path"], parameters["eval_path"]) == (training.job_file, objects["dataset"].job_file)
    too_many = create(api, team, "extraction", ready | query | {"budgets": "100, 5000"})
    assert too_many.json() == {
        "parameters": {"budgets": ["The query set has 800 images: a budget can be at most that."]}
    }
    no_parent = create(api, team, "extraction", ready | query | {"copy_start": "public_teacher"})
    assert no_parent.json()["parameters"]["copy_start"] == [
        "This model has no parent (public teacher) for the copy to start from."
    ]


def test_an_extraction_from_the_public_teacher_starts_from_the_models_parent(team, api_for, ready, training, parent):
    response = create(
        api_for(team.assessor),
        team,
        "extraction",
        ready | {"query_id": training.pk, "budgets": "100", "copy_start": "public_teacher"},
    )
    assert response.status_code == 201, response.json()
    parameters = Job.objects.get(pk=response.json()["id"]).parameters
    assert (parameters["copy_weights"], parameters["copy_arch"]) == (parent.job_file, "cnn-digits")
    assert parameters["teacher_id"] == parent.pk


def test_the_plan_lines_become_jobs_on_the_training_set_and_the_evaluation_set(ready, training, parent):
    model, dataset = (
        ModelArtifact.objects.get(pk=ready["model_id"]),
        DatasetArtifact.objects.get(pk=ready["dataset_id"]),
    )
    lines = dict(model=model, dataset=dataset, sample_limit=200, backdoor_steps=None)
    _, options, target, _ = _planned_run("membership_inference", MEMBERSHIP_LINE, **lines)
    assert target == model
    assert options == {
        "shadow_models": 16,
        "sample_limit": 200,
        "members_path": training.job_file,
        "non_members_path": dataset.job_file,
    }
    _, scratch, _, _ = _planned_run("extraction", SCRATCH_LINE, **lines)
    assert scratch == {"budgets": [100], "query_path": training.job_file, "eval_path": dataset.job_file}
    _, from_teacher, _, _ = _planned_run("extraction", TEACHER_LINE, **lines)
    assert from_teacher["copy_weights"] == parent.job_file and from_teacher["budgets"] == [100]
    # Each extraction job runs its own line: the checklist tells them apart by where the copy started.
    planned = PlannedJob("extraction", TEACHER_LINE, ("why",), ("rule",), ())
    assert job_runs_planned(planned, "extraction", from_teacher)
    assert not job_runs_planned(planned, "extraction", scratch)
    assert plan_needs_teacher("extraction", TEACHER_LINE) and not plan_needs_teacher("extraction", SCRATCH_LINE)


def test_plan_lines_without_a_training_set_or_a_parent_are_skipped_with_the_reason(objects, ready):
    model = ModelArtifact.objects.get(pk=ready["model_id"])
    lines = dict(model=model, dataset=objects["dataset"], sample_limit=200, backdoor_steps=None)
    assert _planned_run("membership_inference", MEMBERSHIP_LINE, **lines)[1:] == (
        None,
        model,
        privacy_plan.NO_MEMBERS,
    )
    assert _planned_run("extraction", SCRATCH_LINE, **lines)[3] == privacy_plan.NO_QUERY_SET


@pytest.mark.parametrize(
    "kind, figure, evidence",
    [
        ("membership_inference", "membership-roc-figure", "membership_auc"),
        ("extraction", "extraction-budgets-figure", "extraction_agreement"),
    ],
)
def test_a_finished_job_becomes_evidence_and_its_result_page_draws_its_chart(
    team, client_for, objects, ready, kind, figure, evidence
):
    result = json.loads((FIXTURES / f"{kind}.json").read_text())
    job = Job.objects.create(
        project=team.project, kind=kind, queue="gpu", status=JobStatus.SUCCEEDED, parameters=ready, result=result
    )
    get_kind(kind).on_finish(job)  # what the worker calls when the job ends
    recorded = Evidence.objects.get(kind=evidence)
    assert recorded.job_id == job.pk and recorded.model_id == ready["model_id"]
    assert recorded.measurement["samples"] > 0
    page = result_page(client_for(team.viewer), team, job)
    assert figure in page
