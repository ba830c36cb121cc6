"""Minimum-norm attacks give evidence through their accuracy at the project's ε; attacks on the teacher speak to
the student's transfer evasion, never to the student's own robustness."""

import pytest

from riskapp.artifacts.models import ModelRole
from riskapp.assessments.bank import load_bank
from riskapp.assessments.models import AssessmentVersion, Evidence
from riskapp.assessments.register import latest_evidence
from riskapp.assessments.scoring import score
from riskapp.evaluations.services import (
    accuracy_at_eps,
    evaluation_finished,
    evidence_from_result,
    evidence_measurements,
)
from tests.riskapp.evaluations.test_evidence import finished, make_model


def min_norm(name, linf_values, *, attacked, samples):
    """A minimum-norm attack entry as the engine writes it: every misclassification counts, whatever its size."""
    return {
        "attack": name,
        "eps": None,
        "eps_bounded": False,
        "samples": samples,
        "attacked": attacked,
        "fooled": len(linf_values),
        "robust_accuracy": round((attacked - len(linf_values)) / samples, 6),
        "distances": {
            "attacked": attacked,
            "found": len(linf_values),
            "linf": {"median": sorted(linf_values)[len(linf_values) // 2], "values": sorted(linf_values)},
            "l2": {"values": []},
        },
    }


def suite(*attacks, clean=0.95, max_queries=1000):
    return {
        "trustworthy": True,
        "clean_accuracy": clean,
        "settings": {"eps": 0.1, "norm": "inf", "steps": 20, "max_queries": max_queries},
        "attacks": list(attacks),
    }


# HopSkipJump on 200 inputs (190 correct): 150 fooled, but only 40 within L∞ 0.03 (the others at 0.36-0.48).
HSJ = min_norm("hopskipjump", [0.02] * 40 + [0.36] * 60 + [0.48] * 50, attacked=190, samples=200)


def test_accuracy_at_eps_is_read_off_the_distances():
    assert HSJ["robust_accuracy"] == 0.2  # what the page used to show as "robust accuracy at ε"
    assert accuracy_at_eps(HSJ, 0.03) == round(150 / 200, 6)
    assert accuracy_at_eps(HSJ, 0.5) == 0.2
    assert accuracy_at_eps({"attack": "deepfool", "samples": 10}, 0.03) is None  # a document without distances


def test_hopskipjump_gives_query_evidence_at_the_projects_eps():
    evidence = evidence_from_result("attack", suite(HSJ), project_eps=0.03)
    assert evidence == {"query_robust_accuracy": 0.75}
    assert evidence_measurements("attack", suite(HSJ), project_eps=0.03) == {
        "query_robust_accuracy": {"attacks": ["hopskipjump"], "queries": 1000, "samples": 200, "clean_accuracy": 0.95}
    }


def test_deepfool_counts_for_white_box_robust_accuracy_at_the_projects_eps():
    deepfool = min_norm("deepfool", [0.01] * 100 + [0.4] * 80, attacked=190, samples=200)
    pgd = {"attack": "pgd_linf", "robust_accuracy": 0.6, "samples": 200}
    evidence = evidence_from_result("attack_suite", suite(pgd, deepfool), project_eps=0.03)
    assert evidence == {"robust_accuracy": 0.45}  # deepfool's 90 of 200 within ε is lower than PGD's 0.6
    measurement = evidence_measurements("attack_suite", suite(pgd, deepfool), project_eps=0.03)["robust_accuracy"]
    assert measurement["attacks"] == ["pgd_linf", "deepfool"]


def test_a_hopskipjump_run_of_the_plans_budget_lowers_query_evasion_by_one_step_at_most():
    bank = load_bank()
    robust = min_norm("hopskipjump", [0.2] * 150, attacked=190, samples=200)  # nothing within 0.03
    value = evidence_from_result("attack", suite(robust), project_eps=0.03)["query_robust_accuracy"]
    measurement = evidence_measurements("attack", suite(robust), project_eps=0.03)["query_robust_accuracy"]
    register = score(bank, {}, {"query_robust_accuracy": {"value": value, "measurement": measurement}})
    assert value == 0.95 and register.risk("evasion_query").current.likelihood == 4
    weak = evidence_measurements("attack", suite(robust, max_queries=100), project_eps=0.03)["query_robust_accuracy"]
    register = score(bank, {}, {"query_robust_accuracy": {"value": value, "measurement": weak}})
    assert register.risk("evasion_query").current.likelihood == 5
    # A fragile result raises whatever the budget.
    broken = evidence_from_result("attack", suite(HSJ), project_eps=0.5)["query_robust_accuracy"]
    low_risk = {"context.who_queries": "batch", "context.motivated_adversary": "no", "deployment.rate_limits": "yes"}
    raised = score(bank, low_risk, {"query_robust_accuracy": {"value": broken, "measurement": weak}})
    assert raised.risk("evasion_query").current.likelihood == 4


@pytest.fixture
def teacher_and_student(team):
    AssessmentVersion.objects.create(
        project=team.project, number=1, bank_version=2, answers={"requirements.input_eps": 0.03}
    )
    teacher = make_model(team, "teacher", role=ModelRole.TEACHER)
    return teacher, make_model(team, "student", role=ModelRole.STUDENT, parent=teacher)


def test_an_attack_on_the_teacher_is_teacher_evidence_not_the_students_robustness(team, teacher_and_student):
    teacher, _ = teacher_and_student
    pgd = {"attack": "pgd_linf", "robust_accuracy": 0.3, "samples": 500}
    square = {"attack": "square", "robust_accuracy": 0.1, "samples": 500}
    evaluation_finished(job=finished(team, teacher, "attack_suite", suite(pgd, square)))
    recorded = Evidence.objects.get(project=team.project)
    assert recorded.kind == "teacher_robust_accuracy" and recorded.model == teacher
    # The lower (Square's) decides, weighed as a Square run: it cannot lower what it measured.
    assert recorded.value == 0.1 and recorded.measurement["attacks"] == ["square"]


def test_a_fragile_teacher_raises_the_students_transfer_evasion_but_not_its_white_box_risk(team, teacher_and_student):
    teacher, _ = teacher_and_student
    bank = load_bank()
    answers = {  # a private teacher, all layers fine-tuned, no motivated adversary: transfer evasion rates 3
        "context.uses_pretrained": "yes",
        "teacher.weights_public": "no",
        "teacher.identity_public": "no",
        "fine_tuning.layers": "all",
        "context.security_decision": "no",
        "context.motivated_adversary": "no",
        "requirements.hardening_budget": "yes",
    }
    before = score(bank, answers, latest_evidence(team.project))
    autoattack = {"attack": "autoattack", "robust_accuracy": 0.05, "samples": 500}
    evaluation_finished(job=finished(team, teacher, "attack", suite(autoattack)))
    after = score(bank, answers, latest_evidence(team.project))
    assert after.risk("evasion_transfer").current.likelihood == 4 > before.risk("evasion_transfer").current.likelihood
    assert after.risk("evasion_white_box").current == before.risk("evasion_white_box").current


def test_a_robust_teacher_lowers_transfer_evasion_by_one_step_and_only_under_autoattack():
    bank = load_bank()
    strong = {"attacks": ["autoattack"], "samples": 1000, "clean_accuracy": 0.9}
    weak = {"attacks": ["pgd_linf"], "steps": 20, "samples": 1000, "clean_accuracy": 0.9}
    by_autoattack = score(bank, {}, {"teacher_robust_accuracy": {"value": 0.7, "measurement": strong}})
    by_pgd = score(bank, {}, {"teacher_robust_accuracy": {"value": 0.7, "measurement": weak}})
    assert by_autoattack.risk("evasion_transfer").current.likelihood == 4
    assert by_pgd.risk("evasion_transfer").current.likelihood == 5
