"""The privacy gates as gate kinds: membership-inference AUC at most X, extraction agreement at most X at a query
budget; read from the model's finished jobs (tests/fixtures/privacy results) and checked when saved."""

import json
from pathlib import Path

import pytest

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
