"""The project's robustness budget carries its norm: only results in the same norm are evidence for it, in the
register, the gates and the default gates; a result in another norm is reported with the reason it does not count."""

import pytest

from riskapp.assessments.bank import load_bank
from riskapp.assessments.epsilon import Budget, budget_from_answers, norm_mismatch
from riskapp.assessments.models import AssessmentVersion, Evidence
from riskapp.evaluations.services import accuracy_at_eps, evaluation_finished, evidence_from_result
from riskapp.gates.defaults import default_gates
from riskapp.gates.evaluate import gates_evaluate
from riskapp.gates.models import GateKind, QualityGate
from tests.riskapp.evaluations.test_evidence import finished, make_model


def bounded(name, norm, eps, robust):
    return {
        "attack": name,
        "eps": eps,
        "eps_bounded": True,
        "norm": norm,
        "samples": 100,
        "attacked": 95,
        "robust_accuracy": robust,
    }


def suite(*attacks):
    return {"trustworthy": True, "clean_accuracy": 0.95, "settings": {"steps": 20}, "attacks": list(attacks)}


L2_AT_HALF = bounded("pgd_l2", "2", 0.5, 0.8)
LINF_AT_003 = bounded("pgd_linf", "inf", 0.03, 0.4)


def test_the_budget_reads_its_norm_from_the_answers_with_linf_by_default():
    assert budget_from_answers({}) == Budget(0.03, "inf")
    assert budget_from_answers({"requirements.input_eps": 0.5, "requirements.input_norm": "l2"}) == Budget(0.5, "2")
    assert budget_from_answers({"requirements.input_norm": "unknown"}).norm == "inf"
    assert budget_from_answers({"requirements.input_eps": 0.5, "requirements.input_norm": "l2"}).label == "L2 ε 0.5"
    bank = load_bank()
    question = bank.question("requirements.input_norm")
    assert {option.value for option in question.options} >= {"linf", "l2"}


def test_an_l2_result_is_not_evidence_for_an_linf_budget_and_says_why():
    assert evidence_from_result("attack", suite(L2_AT_HALF), project_eps=0.03, project_norm="inf") == {}
    assert "L2" in norm_mismatch(L2_AT_HALF, "inf") and "L∞" in norm_mismatch(L2_AT_HALF, "inf")
    mixed = suite(L2_AT_HALF, LINF_AT_003)
    assert evidence_from_result("attack_suite", mixed, project_eps=0.03, project_norm="inf") == {"robust_accuracy": 0.4}
    assert evidence_from_result("attack_suite", mixed, project_eps=0.5, project_norm="2") == {"robust_accuracy": 0.8}


def test_a_curve_in_another_norm_is_not_evidence():
    curve = {"trustworthy": True, "norm": "2", "curve": [{"eps": 0.25, "robust_accuracy": 0.9}]}
    assert evidence_from_result("robustness_curve", curve, project_eps=0.5, project_norm="inf") == {}
    assert evidence_from_result("robustness_curve", curve, project_eps=0.5, project_norm="2") == {
        "robust_accuracy": 0.9
    }


def test_a_minimum_norm_attack_is_read_in_the_projects_norm():
    deepfool = {
        "attack": "deepfool",
        "samples": 10,
        "distances": {"attacked": 10, "linf": {"values": [0.01, 0.2]}, "l2": {"values": [0.3, 2.0]}},
    }
    assert accuracy_at_eps(deepfool, 0.05, "inf") == 0.9
    assert accuracy_at_eps(deepfool, 0.05, "2") == 1.0
    assert accuracy_at_eps(deepfool, 0.5, "2") == 0.9


@pytest.mark.django_db
def test_the_register_records_only_the_result_in_the_projects_norm(team):
    AssessmentVersion.objects.create(
        project=team.project,
        number=1,
        bank_version=3,
        answers={"requirements.input_eps": 0.03, "requirements.input_norm": "linf"},
    )
    model = make_model(team, "student")
    evaluation_finished(job=finished(team, model, "attack", suite(L2_AT_HALF)))
    assert not Evidence.objects.filter(project=team.project, kind="robust_accuracy").exists()
    evaluation_finished(job=finished(team, model, "attack", suite(LINF_AT_003)))
    assert list(Evidence.objects.filter(project=team.project).values_list("kind", "value")) == [
        ("robust_accuracy", 0.4)
    ]


def test_the_default_gate_of_an_l2_budget_runs_pgd_l2_in_l2():
    answers = {
        "requirements.input_eps": 0.5,
        "requirements.input_norm": "l2",
        "requirements.robust_accuracy_target": 0.6,
    }
    gate = default_gates(load_bank(), answers)[0]
    assert gate.kind == GateKind.MIN_ROBUST_ACCURACY
    assert gate.params == {"attack": "pgd_l2", "eps": 0.5, "norm": "2", "threshold": 0.6}
    assert "L2 ε 0.5" in gate.default_from


@pytest.mark.django_db
def test_a_gate_ignores_a_result_in_another_norm_and_says_which_job(team):
    model = make_model(team, "student")
    QualityGate.objects.create(
        project=team.project,
        kind=GateKind.MIN_ROBUST_ACCURACY,
        params={"attack": "autoattack", "eps": 0.5, "norm": "inf", "threshold": 0.6},
    )
    job = finished(team, model, "attack", suite(bounded("autoattack", "2", 0.5, 0.9)))
    result = next(r for r in gates_evaluate(project=team.project, model=model) if r.gate.kind == "min_robust_accuracy")
    assert result.passed is None
    assert f"job {job.pk} was measured in L2" in result.message and "L∞" in result.message
    finished(team, model, "attack", suite(bounded("autoattack", "inf", 0.5, 0.7)))
    result = next(r for r in gates_evaluate(project=team.project, model=model) if r.gate.kind == "min_robust_accuracy")
    assert result.passed is True and result.measured == 0.7


@pytest.mark.django_db
def test_the_attack_page_says_why_a_result_in_another_norm_is_not_evidence(team, client_for):
    from tests.riskapp.dashboards.test_pages import finished as finished_job
    from tests.riskapp.dashboards.test_pages import make_model as page_model
    from tests.riskapp.evaluations.pages import result_page
    from tests.riskapp.evaluations.test_honest_pages import PGD, evasion_result, table

    l2 = PGD | {"attack": "pgd_l2", "norm": "2", "eps": 0.5}
    job = finished_job(team.project, "attack", page_model(team.project, "student"), evasion_result(l2), dataset_id=1)
    bounded = table(result_page(client_for(team.viewer), team, job), "bounded-attacks")
    assert "Reported only: measured in L2, so it is not evidence for a requirement in L∞" in bounded
