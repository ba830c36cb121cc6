"""The privacy gates as gate kinds: membership-inference AUC at most X, extraction agreement at most X at a query
budget; read from the model's finished jobs (tests/fixtures/privacy results), checked when saved, and their tests
added to "Run the plan"."""

import json
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from riskapp.artifacts.models import DatasetArtifact, DatasetPurpose, IntakeStatus
from riskapp.assessments.models import AssessmentVersion
from riskapp.assessments.plan_runs import model_test_plan_runs
from riskapp.evaluations.privacy_plan import NO_MEMBERS
from riskapp.gates.models import GateKind, QualityGate
from tests.riskapp.gates.test_gates import finished, make_model, saved_gates

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "privacy"


def fixture(kind: str) -> dict:
    return json.loads((FIXTURES / f"{kind}.json").read_text())


def test_the_membership_gate_passes_or_fails_on_the_latest_auc(team):
    model = make_model(team)
    gate = QualityGate.objects.create(project=team.project, kind=GateKind.MAX_MEMBERSHIP_AUC, params={"threshold": 0.6})
    [result] = saved_gates(team.project, model)
    assert result.passed is None and "counts as failed" in result.message
    job = finished(team, model, "membership_inference", fixture("membership_inference"))  # AUC 0.651
    [result] = saved_gates(team.project, model)
    assert (result.passed, result.job_id) == (False, job.pk) and "is above 0.6" in result.message
    gate.params = {"threshold": 0.7}
    gate.save()
    [result] = saved_gates(team.project, model)
    assert result.passed is True and result.measured == pytest.approx(0.6505, abs=1e-4)
    assert gate.describe() == "membership-inference AUC ≤ 0.7"


def test_the_extraction_gate_reads_its_budget_only(team):
    model = make_model(team)
    params = {"threshold": 0.97, "budget": 100}
    QualityGate.objects.create(project=team.project, kind=GateKind.MAX_EXTRACTION_AGREEMENT, params=params)
    finished(team, model, "extraction", fixture("extraction"))  # agreement 0.968 at 100, 0.978 at 500 queries
    [result] = saved_gates(team.project, model)
    assert result.passed is True and result.measured == pytest.approx(0.9678, abs=1e-4)
    QualityGate.objects.filter(kind=GateKind.MAX_EXTRACTION_AGREEMENT).update(params=params | {"budget": 500})
    [result] = saved_gates(team.project, model)
    assert result.passed is False and "after 500 queries is above 0.97" in result.message
    QualityGate.objects.filter(kind=GateKind.MAX_EXTRACTION_AGREEMENT).update(params=params | {"budget": 10_000})
    [result] = saved_gates(team.project, model)
    assert result.passed is None and "at 10000 queries" in result.message


def test_the_api_checks_the_privacy_gates_parameters(team, api_for):
    api = api_for(team.owner)
    url = f"/api/v1/projects/{team.project.pk}/gates/create/"
    missing = api.post(url, {"kind": "max_extraction_agreement", "params": {"threshold": 0.9}}, format="json")
    assert missing.status_code == 400 and "budget" in missing.json()["params"]
    wrong = api.post(url, {"kind": "max_membership_auc", "params": {"threshold": 1.5}}, format="json")
    assert wrong.status_code == 400 and "threshold" in wrong.json()["params"]
    body = {"kind": "max_extraction_agreement", "params": {"threshold": 0.9, "budget": 1000}}
    created = api.post(url, body, format="json")
    assert created.status_code == 201 and created.json()["params"] == {"threshold": 0.9, "budget": 1000}
    assert created.json()["description"] == "extraction agreement ≤ 0.9 after 1000 queries"


def privacy_plan_setup(team, answers, training_records=300):
    """A digits model, an evaluation set of 300 records and a training set, the answers, and both privacy gates."""
    AssessmentVersion.objects.create(project=team.project, number=1, bank_version=1, answers=answers)
    model = make_model(team)
    for purpose, letter, records in (
        (DatasetPurpose.EVALUATION, "e", 300),
        (DatasetPurpose.TRAINING, "t", training_records),
    ):
        DatasetArtifact.objects.create(
            project=team.project, name=purpose, original_name=f"{purpose}.npz", sha256=letter * 64, size=3,
            file=ContentFile(b"abc", name=f"{purpose}.upload"), status=IntakeStatus.READY, purpose=purpose,
            intake={"samples": records},
        )  # fmt: skip
    QualityGate.objects.create(project=team.project, kind=GateKind.MAX_MEMBERSHIP_AUC, params={"threshold": 0.6})
    QualityGate.objects.create(
        project=team.project, kind=GateKind.MAX_EXTRACTION_AGREEMENT, params={"threshold": 0.9, "budget": 100}
    )
    return model


def planned(plan, kind):
    return [run.options for run in plan.runs if run.kind == kind]


def test_run_the_plan_adds_the_test_each_saved_privacy_gate_reads(team):
    model = privacy_plan_setup(team, {"context.who_queries": "batch"})  # a plan without any privacy test
    training = DatasetArtifact.objects.get(project=team.project, purpose=DatasetPurpose.TRAINING)
    plan = model_test_plan_runs(model=model, sample_limit=200)
    [membership] = planned(plan, "membership_inference")
    assert membership["members_path"] == training.job_file and membership["non_members_path"] == plan.dataset.job_file
    [extraction] = planned(plan, "extraction")
    assert extraction["budgets"] == [100] and "copy_weights" not in extraction
    assert extraction["query_path"] == training.job_file

    training.delete()  # without training data the gate's test is skipped, saying why
    skipped = model_test_plan_runs(model=model).skipped
    assert {"kind": "membership_inference", "reason": NO_MEMBERS} in skipped


def test_a_privacy_gates_test_the_plan_already_runs_is_queued_once(team):
    answers = {"context.who_queries": "customers", "deployment.api_output": ["rounded_scores"]}
    model = privacy_plan_setup(team, answers, training_records=2000)  # the plan tests membership and extraction
    plan = model_test_plan_runs(model=model, sample_limit=200)
    assert len(planned(plan, "membership_inference")) == 1
    [extraction] = planned(plan, "extraction")
    assert extraction["budgets"] == [100, 1000]  # the plan's copies, the gate's 100 queries among them
