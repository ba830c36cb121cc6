"""Sign-off guard rails: submitting or approving an incomplete assessment, or one with failing gates or unaccepted
risks above the appetite, shows the problems and needs an explicit confirmation with a reason, kept in the audit;
the submitter sees no Approve button. The same rules over the API."""

import pytest
from django.urls import reverse

from riskapp.assessments import services
from riskapp.assessments.models import AssessmentStatus, AssessmentVersion
from riskapp.assessments.signoff import SignoffNeedsConfirmation, signoff_problems
from riskapp.audit.models import AuditEvent
from riskapp.gates.models import GateKind, QualityGate
from tests.riskapp.api import conftest as api_fixtures
from tests.riskapp.gates import test_verdict_pages as verdict_fixtures

# Fixtures of other modules: API clients with tokens, and a project whose verdict is "ready to ship".
api_for = api_fixtures.api_for
fresh_throttle_counts = api_fixtures.fresh_throttle_counts
shippable = verdict_fixtures.shippable

pytestmark = pytest.mark.django_db
REASON = "Pilot release to one customer; the open items are tracked in the register."


def url(name, team):
    return reverse(f"projects:assessments:{name}", kwargs={"project_id": team.project.pk})


def api_url(name, team):
    return f"/api/v1/projects/{team.project.pk}/assessment/{name}/"


def latest(team) -> AssessmentVersion:
    return AssessmentVersion.objects.filter(project=team.project).order_by("-number").first()


def one_answer(team):
    services.answer_set(actor=team.assessor, project=team.project, question_id="context.uses_pretrained", raw="yes")


def test_a_complete_assessment_with_passing_gates_and_nothing_above_the_appetite_needs_no_confirmation(
    team, client_for, shippable
):
    assert signoff_problems(version=latest(team)) == []
    page = client_for(team.assessor).get(url("status", team)).content.decode()
    assert "Submit for review" in page and 'name="confirm"' not in page and "is not ready" not in page
    client_for(team.assessor).post(url("submit", team))
    client_for(team.reviewer).post(url("review", team), {"action": "approve"})
    assert latest(team).status == AssessmentStatus.APPROVED
    submitted = AuditEvent.objects.get(action="assessment.submitted", project_id=team.project.pk)
    assert submitted.after == {"status": "submitted"}  # nothing overridden, so no reason recorded


def test_submitting_an_incomplete_assessment_shows_the_problems_and_needs_a_confirmation_with_a_reason(
    team, client_for
):
    one_answer(team)
    client = client_for(team.assessor)
    page = client.get(url("status", team)).content.decode()
    assert "Before you submit: this assessment is not ready." in page
    assert "The questionnaire is incomplete: 1 of" in page
    assert 'name="confirm"' in page and 'name="reason"' in page

    for refused in ({}, {"reason": REASON}, {"confirm": "1"}, {"confirm": "1", "reason": "   "}):
        response = client.post(url("submit", team), refused, follow=True)
        assert "To submit anyway, tick the confirmation and give a reason." in response.content.decode()
        assert latest(team).status == AssessmentStatus.DRAFT
    assert not AuditEvent.objects.filter(action="assessment.submitted").exists()

    response = client.post(url("submit", team), {"confirm": "1", "reason": REASON}, follow=True)
    assert "Version 1 submitted for review." in response.content.decode()
    assert latest(team).status == AssessmentStatus.SUBMITTED
    event = AuditEvent.objects.get(action="assessment.submitted", project_id=team.project.pk)
    assert event.actor == team.assessor and event.after["reason"] == REASON
    assert event.after["problems"][0].startswith("The questionnaire is incomplete: 1 of")


def test_approving_with_a_failing_gate_and_unaccepted_risks_above_the_appetite_lists_them_and_needs_a_reason(
    team, client_for, shippable
):
    project = shippable.project
    project.risk_appetite = "low"
    project.save()
    gate = QualityGate.objects.get(project=project, kind=GateKind.MIN_ROBUST_ACCURACY, params__threshold=0.4)
    gate.params = gate.params | {"threshold": 0.9}  # the student measured 0.42
    gate.save()
    services.assessment_submit(actor=team.assessor, version=latest(team), confirmed=True, reason=REASON)

    reviewer = client_for(team.reviewer)
    page = reviewer.get(url("status", team)).content.decode()
    assert "Before you approve: this assessment is not ready." in page
    assert "release gate fails on student v1: robust accuracy ≥ 0.9 under PGD" in page
    assert "above the project&#x27;s risk appetite (low) without an accepted treatment:" in page
    assert "questionnaire is incomplete" not in page

    reviewer.post(url("review", team), {"action": "approve", "comment": "Looks fine."})
    assert latest(team).status == AssessmentStatus.SUBMITTED
    response = reviewer.post(
        url("review", team), {"action": "approve", "comment": "Looks fine.", "confirm": "1", "reason": REASON}
    )
    assert response.status_code == 302 and latest(team).status == AssessmentStatus.APPROVED
    event = AuditEvent.objects.get(action="assessment.approved", project_id=project.pk)
    assert event.actor == team.reviewer and event.after["reason"] == REASON
    gates, risks = event.after["problems"]
    assert gates.startswith("1 release gate fails on student v1: robust accuracy ≥ 0.9")
    assert "above the project's risk appetite (low) without an accepted treatment:" in risks


def test_the_submitter_sees_no_approve_button_and_another_reviewer_does(team, client_for):
    one_answer(team)
    owner = client_for(team.owner)  # owners may both edit and review
    owner.post(url("submit", team), {"confirm": "1", "reason": REASON})
    assert latest(team).submitted_by == team.owner
    page = owner.get(url("status", team)).content.decode()
    assert 'value="approve"' not in page and 'value="return"' not in page
    assert "You submitted this version: another reviewer approves or returns it" in page
    page = client_for(team.reviewer).get(url("status", team)).content.decode()
    assert 'value="approve"' in page and "Before you approve" in page


def test_the_service_refuses_without_a_reason_and_says_what_is_open(team):
    one_answer(team)
    with pytest.raises(SignoffNeedsConfirmation) as refused:
        services.assessment_submit(actor=team.assessor, version=latest(team), confirmed=True, reason="")
    assert refused.value.problems[0].startswith("The questionnaire is incomplete")
    assert "To submit it anyway, confirm and give a reason" in refused.value.messages[0]


def test_api_submit_and_approve_need_confirm_and_reason_when_problems_remain(team, api_for):
    one_answer(team)
    assessor, reviewer = api_for(team.assessor), api_for(team.reviewer)

    refused = assessor.post(api_url("submit", team), {}, format="json")
    assert refused.status_code == 400
    body = refused.json()
    assert body["problems"][0].startswith("The questionnaire is incomplete: 1 of")
    assert "To submit it anyway, confirm and give a reason" in body["detail"]
    no_reason = assessor.post(api_url("submit", team), {"confirm": True}, format="json")
    assert no_reason.status_code == 400 and no_reason.json()["problems"] == body["problems"]
    assert latest(team).status == AssessmentStatus.DRAFT

    submitted = assessor.post(api_url("submit", team), {"confirm": True, "reason": REASON}, format="json")
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"

    refused = reviewer.post(api_url("review", team), {"action": "approve", "reason": REASON}, format="json")
    assert refused.status_code == 400 and refused.json()["problems"] == body["problems"]
    assert latest(team).status == AssessmentStatus.SUBMITTED
    approved = reviewer.post(
        api_url("review", team), {"action": "approve", "confirm": True, "reason": REASON}, format="json"
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    events = AuditEvent.objects.filter(action__in=["assessment.submitted", "assessment.approved"]).order_by("id")
    assert [(e.action, e.after["reason"], e.after["problems"]) for e in events] == [
        ("assessment.submitted", REASON, body["problems"]),
        ("assessment.approved", REASON, body["problems"]),
    ]
