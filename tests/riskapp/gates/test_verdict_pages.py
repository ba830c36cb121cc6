"""The ship verdict where people read it: the project page, the risk page, the portfolio, the report and the API,
all in the same words; and an outsider sees none of it."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from riskapp.artifacts.models import ModelRole
from riskapp.assessments import services as assessments
from riskapp.assessments.bank import load_bank
from riskapp.assessments.models import RiskTreatment, Treatment
from riskapp.assessments.plan import engine_attack, recommended_plan
from riskapp.dashboards.models import ProjectRiskSummary
from riskapp.gates.models import GateKind, QualityGate
from riskapp.gates.selectors import model_verdict, project_verdict
from riskapp.gates.verdict import ACCEPTED_RISKS, DO_NOT_SHIP, READY
from tests.riskapp.dashboards.test_pages import attack_result, finished, make_model, scan_result

pytestmark = pytest.mark.django_db
PORTFOLIO = reverse("dashboards:portfolio")


def robustness_gate(project) -> QualityGate:
    params = {"attack": "pgd_linf", "eps": 0.1, "threshold": 0.4}
    return QualityGate.objects.create(project=project, kind=GateKind.MIN_ROBUST_ACCURACY, params=params)


def run_the_whole_plan(project, student, teacher) -> None:
    """A succeeded, clean job for every test the plan recommends (and the gate's attack)."""
    version = project.assessment_versions.order_by("-number").first()
    for planned in recommended_plan(load_bank(), version.answers if version else {}):
        target = teacher if planned.params.get("target") == "teacher" else student
        attacks = [engine_attack(a) for a in planned.params.get("attacks", [planned.params.get("attack", "pgd")])]
        result = scan_result([]) if planned.kind == "backdoor_scan" else {"trustworthy": True}
        # A STRIP run counts as the planned test only with suspicious inputs to screen (calibration alone does not).
        extra = {"suspect_path": "suspects.npz"} if planned.kind == "strip" else {}
        # An extraction runs its line when it tried the line's budgets and started where the line says.
        if planned.kind == "extraction":
            teacher_start = planned.params.get("start") == "public_teacher"
            extra = {"budgets": planned.params["budgets"], "copy_weights": "teacher.safetensors" * teacher_start}
        finished(project, planned.kind, target, result, attacks=attacks, **extra)
    finished(project, "attack", student, attack_result(0.42), attacks=["pgd_linf"])


def answer_the_rest_dont_know(project) -> None:
    """Every question not answered yet answered "don't know", so that every threat is assessed (as the worst case)."""
    version = project.assessment_versions.order_by("-number").first()
    version.answers = {question.id: "unknown" for question in load_bank().questions} | version.answers
    version.save()


@pytest.fixture
def shippable(team):
    """Traffic signs with an appetite nothing exceeds, a passing gate and the whole plan run on the student."""
    project = team.project
    project.risk_appetite = "critical"
    project.save()
    assessments.answer_set(actor=team.owner, project=project, question_id="context.uses_pretrained", raw="yes")
    answer_the_rest_dont_know(project)
    teacher = make_model(project, "public teacher", role=ModelRole.TEACHER)
    student = make_model(project, "student", parent=teacher)
    robustness_gate(project)
    run_the_whole_plan(project, student, teacher)
    return type("Shippable", (), {"project": project, "student": student, "teacher": teacher})


def test_a_version_with_every_test_run_and_gate_passed_is_ready_to_ship(team, shippable):
    verdict = project_verdict(project=shippable.project)
    assert verdict.status == READY, verdict.reasons
    assert verdict.model == "student v1"


def test_an_accepted_risk_above_the_appetite_makes_it_ship_with_accepted_risks(team, shippable):
    project = shippable.project
    project.risk_appetite = "low"
    project.save()
    for row in project_verdict_rows(project):
        RiskTreatment.objects.create(
            project=project,
            threat_id=row,
            treatment=Treatment.ACCEPT,
            owner=team.reviewer,
            rationale="Accepted for the pilot.",
            expires_on=timezone.localdate() + datetime.timedelta(days=30),
            decided_by=team.reviewer,
        )
    verdict = project_verdict(project=project)
    assert verdict.status == ACCEPTED_RISKS, verdict.reasons
    assert "owner reviewer" in verdict.reasons[0].text
    # The acceptances expire: now nothing may ship.
    RiskTreatment.objects.filter(project=project).update(expires_on=timezone.localdate() - datetime.timedelta(days=1))
    verdict = project_verdict(project=project)
    assert verdict.status == DO_NOT_SHIP and "has expired" in verdict.reasons[0].text


def project_verdict_rows(project) -> list[str]:
    from riskapp.assessments.register import register_rows

    version = project.assessment_versions.order_by("-number").first()
    _, rows = register_rows(project, version.answers)
    above = [row.threat.id for row in rows if row.above_appetite]
    assert above, "the test needs a risk above the low appetite"
    return above


def test_a_backdoored_teacher_blocks_its_student(team, shippable):
    finished(shippable.project, "backdoor_scan", shippable.teacher, scan_result([0]))
    verdict = project_verdict(project=shippable.project)
    assert verdict.status == DO_NOT_SHIP
    assert "A backdoor scan flagged the teacher public teacher v1 (class 0)" in verdict.reasons[0].text


def test_a_newer_version_must_be_tested_again(team, shippable):
    newer = make_model(shippable.project, "student", "2", parent=shippable.teacher, previous=shippable.student)
    verdict = project_verdict(project=shippable.project)
    assert verdict.status == DO_NOT_SHIP and verdict.model == "student v2"
    assert "required tests have not run on student v2" in verdict.reasons[0].text
    # The older version keeps its own verdict.
    assert model_verdict(project=shippable.project, model=shippable.student).status == READY
    assert model_verdict(project=shippable.project, model=newer).status == DO_NOT_SHIP


def test_a_refused_upload_is_never_the_release_candidate_nor_replaces_the_version_it_follows(team, shippable):
    from riskapp.artifacts.models import IntakeStatus

    refused = make_model(shippable.project, "student", "2", parent=shippable.teacher, previous=shippable.student)
    refused.status = IntakeStatus.REJECTED
    refused.save()
    verdict = project_verdict(project=shippable.project)
    assert verdict.model == "student v1" and verdict.status == READY, verdict.reasons
    refused_new_model = make_model(shippable.project, "other student", parent=shippable.teacher)
    refused_new_model.status = IntakeStatus.REJECTED
    refused_new_model.save()
    assert project_verdict(project=shippable.project).model == "student v1"


def test_a_project_whose_owner_disabled_every_default_gate_says_so(team):
    for kind in GateKind.values:
        QualityGate.objects.create(project=team.project, kind=kind, params=DISABLED_PARAMS[kind], enabled=False)
    verdict = project_verdict(project=team.project)
    assert verdict.status == DO_NOT_SHIP
    assert any(reason.text.startswith("Every release gate is disabled:") for reason in verdict.reasons)
    assert verdict.reasons[0].text.startswith("No model version has been uploaded yet")


DISABLED_PARAMS = {
    GateKind.MIN_ROBUST_ACCURACY: {"attack": "pgd_linf", "eps": 0.1, "threshold": 0.4},
    GateKind.NO_BACKDOOR_FLAG: {},
    GateKind.MAX_TRANSFER_SUCCESS: {"threshold": 0.2},
    GateKind.MAX_MEMBERSHIP_AUC: {"threshold": 0.6},
    GateKind.MAX_EXTRACTION_AGREEMENT: {"threshold": 0.9, "budget": 1000},
    GateKind.NO_UNACCEPTED_RISK_ABOVE_APPETITE: {},
}


def test_a_project_with_answers_and_no_gate_set_gets_its_verdict_from_the_default_gates(team):
    """No gate saved: the robustness requirement and ε answered make a default gate that decides the verdict."""
    project = team.project
    project.risk_appetite = "critical"
    project.save()
    for question_id, raw in (
        ("context.uses_pretrained", "no"),
        ("requirements.input_eps", "0.1"),
        ("requirements.robust_accuracy_target", "0.5"),
    ):
        assessments.answer_set(actor=team.owner, project=project, question_id=question_id, raw=raw)
    answer_the_rest_dont_know(project)
    student = make_model(project, "student")
    run_the_whole_plan(project, student, None)  # robust accuracy 0.42 under PGD L∞ at ε 0.1
    assert not QualityGate.objects.filter(project=project).exists()
    verdict = project_verdict(project=project)
    assert verdict.status == DO_NOT_SHIP
    assert verdict.reasons[0].text == (
        "1 release gate fails: robust accuracy ≥ 0.5 under PGD L∞ at ε 0.1 (default from the answers) "
        "(robust accuracy 0.420 is below 0.5)."
    )
    assert not any(reason.kind == "no_gates" for reason in verdict.reasons)
    # The same version meets a lower requirement: the default follows the answer, and the version may ship.
    assessments.answer_set(
        actor=team.owner, project=project, question_id="requirements.robust_accuracy_target", raw="0.4"
    )
    assert project_verdict(project=project).status == READY, project_verdict(project=project).reasons


def test_the_project_page_and_the_risk_page_lead_with_the_verdict(team, client_for):
    make_model(team.project, "student")
    verdict = project_verdict(project=team.project)
    client = client_for(team.viewer)
    for url in (
        reverse("projects:detail", args=[team.project.pk]),
        reverse("projects:dashboards:risk", args=[team.project.pk]),
    ):
        page = client.get(url).content.decode()
        assert "Ship verdict: " in page and ">Do not ship</span>" in page
        assert page.index("Ship verdict") < page.index("<h2", page.index("Ship verdict") + 1)  # the first section
        for reason in verdict.reasons:
            assert escape(reason.text) in page and escape(reason.next_step) in page


def test_the_portfolio_shows_each_projects_verdict_and_rescores_it_when_a_gate_changes(team, client_for, shippable):
    client = client_for(team.owner)
    page = client.get(PORTFOLIO).content.decode()
    assert ">Ready to ship</span>" in page
    summary = ProjectRiskSummary.objects.get(project=team.project)
    assert summary.verdict["status"] == READY and summary.verdict_on == timezone.localdate()
    QualityGate.objects.create(project=team.project, kind=GateKind.MAX_TRANSFER_SUCCESS, params={"threshold": 0.1})
    assert ProjectRiskSummary.objects.get(project=team.project).stale
    page = client.get(PORTFOLIO).content.decode()
    assert ">Do not ship</span>" in page, page
    assert escape(project_verdict(project=team.project).reasons[0].text) in page


def test_a_verdict_from_an_earlier_day_is_worked_out_again(team, client_for):
    client = client_for(team.owner)
    client.get(PORTFOLIO)
    ProjectRiskSummary.objects.filter(project=team.project).update(
        verdict={}, verdict_on=timezone.localdate() - datetime.timedelta(days=1)
    )
    client.get(PORTFOLIO)
    assert ProjectRiskSummary.objects.get(project=team.project).verdict["status"] == DO_NOT_SHIP


def test_the_report_and_its_json_carry_the_same_verdict(team, client_for, shippable):
    client = client_for(team.viewer)
    document = client.get(reverse("projects:dashboards:report_json", args=[team.project.pk])).json()
    assert document["verdict"] == project_verdict(project=team.project).as_dict()
    assert document["verdict"]["label"] == "Ready to ship"
    page = client.get(reverse("projects:dashboards:report", args=[team.project.pk])).content.decode()
    assert ">Ready to ship</span>" in page and document["verdict"]["reasons"][0]["text"] in page


def test_the_api_gives_the_verdict_on_the_project_and_on_each_model(team, api_for, shippable):
    api = api_for(team.viewer)
    project = api.get(reverse("api:project_detail", args=[team.project.pk])).json()
    assert project["verdict"]["status"] == READY and project["verdict"]["label"] == "Ready to ship"
    assert set(project["verdict"]["reasons"][0]) == {"text", "next_step"}
    url = reverse("api:model_detail", args=[team.project.pk, shippable.student.pk])
    model = api.get(url).json()
    assert model["verdict"] == project["verdict"]
    teacher = api.get(reverse("api:model_detail", args=[team.project.pk, shippable.teacher.pk])).json()
    assert teacher["verdict"]["model"] == "public teacher v1"
    listed = {
        m["id"]: m["verdict"] for m in api.get(reverse("api:model_list", args=[team.project.pk])).json()["results"]
    }
    assert listed == {shippable.student.pk: model["verdict"], shippable.teacher.pk: teacher["verdict"]}


def test_an_outsider_gets_404_for_the_verdict_everywhere(team, client_for, api_for, shippable):
    client = client_for(team.outsider)
    for name in ("projects:detail", "projects:dashboards:risk", "projects:dashboards:report_json"):
        assert client.get(reverse(name, args=[team.project.pk])).status_code == 404
    assert team.project.name not in client.get(PORTFOLIO).content.decode()
    api = api_for(team.outsider)
    assert api.get(reverse("api:project_detail", args=[team.project.pk])).status_code == 404
    url = reverse("api:model_detail", args=[team.project.pk, shippable.student.pk])
    assert api.get(url).status_code == 404
    assert api.get(reverse("api:model_list", args=[team.project.pk])).status_code == 404


def test_a_failing_gate_is_named_in_words(team, shippable):
    gate = QualityGate.objects.get(project=team.project)
    gate.params = gate.params | {"threshold": 0.9}
    gate.save()
    verdict = project_verdict(project=team.project)
    assert verdict.status == DO_NOT_SHIP
    assert verdict.reasons[0].text == (
        "1 release gate fails: robust accuracy ≥ 0.9 under PGD L∞ at ε 0.1 (robust accuracy 0.420 is below 0.9)."
    )
