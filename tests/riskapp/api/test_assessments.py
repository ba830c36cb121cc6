"""The assessment, the risk register and the reports over the API: read answers and scores, answer,
submit, review (four-eyes), treat risks; the same services and rules as the HTML pages."""

import datetime

import pytest
from django.utils import timezone

from riskapp.assessments.models import AssessmentVersion, RiskTreatment
from riskapp.assessments.register import register_document, register_snapshot
from riskapp.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def base(team) -> str:
    return f"/api/v1/projects/{team.project.pk}"


def answer(api, team, answers):
    return api.post(f"{base(team)}/assessment/answers/", {"answers": answers}, format="json")


def test_an_empty_assessment_reads_as_no_version_with_seed_scores(team, api_for):
    body = api_for(team.viewer).get(f"{base(team)}/assessment/").json()
    assert body["version"] is None and body["status"] is None and body["answers"] == {}
    assert body["answered"] == 0 and body["total"] > 0
    assert set(body["scores"]) >= {"evasion_white_box", "backdoor_inherited"}


def test_answers_of_every_type_are_saved_and_rescore_the_register(team, api_for):
    api = api_for(team.assessor)
    before = api.get(f"{base(team)}/assessment/").json()["scores"]
    response = answer(
        api,
        team,
        {
            "context.uses_pretrained": "yes",
            "context.data_sensitivity": "personal",
            "requirements.input_eps": 0.05,
            "fine_tuning.data_origin": ["web", "own"],
            "operation.risk_owner": "  Dana  ",
            "operation.next_review": "2030-01-31",
            "teacher.scanned": "yes",  # a control in place lowers current risks
        },
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["version"] == 1 and body["status"] == "draft" and body["answered"] == 7
    assert body["answers"] == {
        "context.uses_pretrained": "yes",
        "context.data_sensitivity": "personal",
        "requirements.input_eps": 0.05,
        "fine_tuning.data_origin": ["own", "web"],
        "operation.risk_owner": "Dana",
        "operation.next_review": "2030-01-31",
        "teacher.scanned": "yes",
    }
    version = AssessmentVersion.objects.get(project=team.project)
    assert body["scores"] == register_snapshot(team.project, version.answers)["risks"] != before
    assert AuditEvent.objects.filter(action="assessment.answered", project_id=team.project.pk).count() == 7


def test_unknown_and_null_answers(team, api_for):
    api = api_for(team.assessor)
    answer(api, team, {"context.uses_pretrained": "yes", "context.data_sensitivity": "unknown"})
    body = answer(api, team, {"context.uses_pretrained": None}).json()
    assert body["answers"] == {"context.data_sensitivity": "unknown"}


def test_questions_list_the_ones_that_apply_with_their_answers(team, api_for):
    api = api_for(team.assessor)
    answer(api, team, {"context.uses_pretrained": "no"})
    without_teacher = api.get(f"{base(team)}/assessment/questions/?page_size=200").json()
    answer(api, team, {"context.uses_pretrained": "yes"})
    with_teacher = api.get(f"{base(team)}/assessment/questions/?page_size=200").json()
    assert with_teacher["count"] > without_teacher["count"]  # teacher questions appear
    first = with_teacher["results"][0]
    assert first["id"] == "context.uses_pretrained" and first["answer"] == "yes"
    assert [o["value"] for o in first["options"]] == ["yes", "no", "unknown"]


def test_submit_then_review_with_the_four_eyes_rule(team, api_for):
    assessor, reviewer, owner = api_for(team.assessor), api_for(team.reviewer), api_for(team.owner)
    assert assessor.post(f"{base(team)}/assessment/submit/").json() == {
        "detail": "Answer the questionnaire before submitting it."
    }
    answer(assessor, team, {"context.uses_pretrained": "yes"})
    confirmed = {"confirm": True, "reason": "Pilot sign-off; the open questions are tracked separately."}
    submitted = owner.post(f"{base(team)}/assessment/submit/", confirmed, format="json")
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"
    assert submitted.json()["submitted_by"] == "owner"
    frozen = answer(assessor, team, {"context.uses_pretrained": "no"})
    assert frozen.status_code == 400 and "waiting for review" in frozen.json()["detail"]
    own = owner.post(f"{base(team)}/assessment/review/", {"action": "approve"}, format="json")
    assert own.status_code == 400 and "four-eyes" in own.json()["detail"]
    no_comment = reviewer.post(f"{base(team)}/assessment/review/", {"action": "return"}, format="json")
    assert no_comment.status_code == 400 and "needs a comment" in no_comment.json()["detail"]
    approved = reviewer.post(
        f"{base(team)}/assessment/review/", {"action": "approve", "comment": "ok", **confirmed}, format="json"
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["reviewed_by"] == "reviewer"
    # The next edit starts version 2.
    assert answer(assessor, team, {"context.uses_pretrained": "no"}).json()["version"] == 2


def test_risks_are_the_register_rows_highest_current_risk_first(team, api_for):
    answer(api_for(team.assessor), team, {"context.uses_pretrained": "yes"})
    body = api_for(team.viewer).get(f"{base(team)}/risks/?page_size=100").json()
    document = register_document(team.project)
    assert body["count"] == len(document["risks"]) == 16
    assert [r["threat"] for r in body["results"]] == [r["threat"] for r in document["risks"]]
    scores = [r["current"]["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    one = api_for(team.viewer).get(f"{base(team)}/risks/backdoor_inherited/").json()
    assert one == next(r for r in body["results"] if r["threat"] == "backdoor_inherited")
    assert api_for(team.viewer).get(f"{base(team)}/risks/no_such_threat/").status_code == 404


def test_risk_list_is_paginated(team, api_for):
    body = api_for(team.viewer).get(f"{base(team)}/risks/?page_size=5").json()
    assert body["count"] == 16 and len(body["results"]) == 5 and body["next"]


def test_treating_a_risk_with_the_acceptance_rules(team, api_for):
    url = f"{base(team)}/risks/model_theft/treatment/"
    assessor = api_for(team.assessor)
    refused = assessor.post(url, {"treatment": "accept"}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"detail": "Accepting a risk needs an owner, a rationale, an expiry date."}
    stranger = assessor.post(url, {"treatment": "accept", "owner": "outsider"}, format="json")
    assert stranger.status_code == 400 and stranger.json()["owner"] == ["'outsider' is not a member of this project."]
    review_by = (timezone.localdate() + datetime.timedelta(days=30)).isoformat()
    response = api_for(team.reviewer).post(
        url,
        {"treatment": "accept", "owner": "reviewer", "rationale": "Compensating controls", "expires_on": review_by},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["treatment"], response.json()["owner"]) == ("accept", "reviewer")
    assert response.json()["expires_on"] == review_by
    assert RiskTreatment.objects.get(project=team.project, threat_id="model_theft").decided_by == team.reviewer
    assert api_for(team.owner).post(f"{base(team)}/risks/nope/treatment/", {}, format="json").status_code == 404


def test_register_report_is_the_json_export(team, api_for, client_for):
    answer(api_for(team.assessor), team, {"context.uses_pretrained": "yes"})
    body = api_for(team.viewer).get(f"{base(team)}/reports/register/").json()
    export = client_for(team.viewer).get(f"/projects/{team.project.pk}/assessment/export/register.json").json()
    assert body == export and body["assessment"]["version"] == 1


def test_assessment_report_is_the_markdown_export(team, api_for, client_for):
    answer(api_for(team.assessor), team, {"context.uses_pretrained": "yes"})
    response = api_for(team.viewer).get(f"{base(team)}/reports/assessment.md")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/markdown")
    export = client_for(team.viewer).get(f"/projects/{team.project.pk}/assessment/export/assessment.md")
    assert response.content.decode().splitlines()[:5] == export.content.decode().splitlines()[:5]
    assert "Traffic signs" in response.content.decode()
