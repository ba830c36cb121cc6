"""The assessment in the browser: answers autosave, the register explains itself, four-eyes sign-off,
versions and diffs, treatments with acceptance rules, evidence re-scoring, exports, audit."""

import csv
import datetime
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from riskapp.assessments import services
from riskapp.assessments.bank import load_bank
from riskapp.assessments.models import AssessmentStatus, AssessmentVersion, RiskTreatment
from riskapp.assessments.register import register_rows
from riskapp.audit.models import AuditEvent


def url(name, team, **kwargs):
    return reverse(f"projects:assessments:{name}", kwargs={"project_id": team.project.pk, **kwargs})


def answer(client, team, question, *values, htmx=True, multiple=False):
    data = {"question": question, "value": list(values)}
    if multiple:
        data["multiple"] = "1"
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(url("answer", team), data, headers=headers)


def latest(team):
    return AssessmentVersion.objects.filter(project=team.project).order_by("-number").first()


def current_rating(team, threat_id):
    version = latest(team)
    _, rows = register_rows(team.project, version.answers if version else {})
    return next(row for row in rows if row.threat.id == threat_id).risk.current


# --- answering --------------------------------------------------------------------------------


def test_first_answer_creates_version_1_and_autosaves_through_htmx(team, client_for):
    client = client_for(team.assessor)
    response = answer(client, team, "context.uses_pretrained", "yes")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="questionnaire"' in html and "<html" not in html  # a fragment for htmx to swap in
    version = latest(team)
    assert (version.number, version.status, version.answers) == (1, "draft", {"context.uses_pretrained": "yes"})
    assert AuditEvent.objects.filter(action="assessment.answered", project_id=team.project.pk).count() == 1


def test_teacher_questions_appear_only_when_a_pretrained_model_is_used(team, client_for):
    client = client_for(team.assessor)
    answer(client, team, "context.uses_pretrained", "no")
    page = client.get(url("questionnaire", team)).content.decode()
    assert 'id="q-teacher.source"' not in page
    answer(client, team, "context.uses_pretrained", "yes")
    page = client.get(url("questionnaire", team)).content.decode()
    assert 'id="q-teacher.source"' in page


def test_every_answer_type_is_saved_in_its_canonical_form(team, client_for):
    client = client_for(team.assessor)
    answer(client, team, "context.uses_pretrained", "yes")
    answer(client, team, "deployment.api_output", "label", "full_scores", multiple=True)
    answer(client, team, "requirements.input_eps", "0.03")
    answer(client, team, "operation.risk_owner", "  Head of ML platform  ")
    answer(client, team, "operation.next_review", "2027-03-01")
    answer(client, team, "teacher.pinned", "unknown")
    answers = latest(team).answers
    assert answers["deployment.api_output"] == ["label", "full_scores"]
    assert answers["requirements.input_eps"] == 0.03
    assert answers["operation.risk_owner"] == "Head of ML platform"
    assert answers["operation.next_review"] == "2027-03-01"
    assert answers["teacher.pinned"] == "unknown"


def test_dont_know_is_always_accepted_even_for_free_text(team, client_for):
    client = client_for(team.assessor)
    answer(client, team, "requirements.input_eps", "", "unknown")
    assert latest(team).answers["requirements.input_eps"] == "unknown"


def test_completeness_is_shown_per_section(team, client_for):
    client = client_for(team.assessor)
    answer(client, team, "context.uses_pretrained", "yes")
    answer(client, team, "context.security_decision", "unknown")
    page = client.get(url("questionnaire", team)).content.decode()
    assert "2 of 8 answered, 1 “don&#x27;t know”" in page or "2 of 8 answered, 1 “don't know”" in page


def test_viewer_reads_answers_but_gets_no_inputs(team, client_for):
    answer(client_for(team.assessor), team, "context.uses_pretrained", "yes")
    page = client_for(team.viewer).get(url("questionnaire", team)).content.decode()
    assert "hx-post" not in page and "Submit for review" not in page
    assert answer(client_for(team.viewer), team, "context.uses_pretrained", "no").status_code == 403
    assert latest(team).answers == {"context.uses_pretrained": "yes"}


# --- the register ----------------------------------------------------------------------------------


def test_register_explains_why_a_risk_is_high(team, client_for):
    client = client_for(team.assessor)
    answer(client, team, "context.uses_pretrained", "yes")
    answer(client, team, "teacher.source", "public_hub")
    answer(client, team, "teacher.weights_public", "yes")
    page = client_for(team.viewer).get(url("register", team)).content.decode()
    assert "Why?" in page and "Black-box evasion by transfer" in page
    assert "teacher.weights_public" in page or "weights" in page
    assert "AML.T0043.002" in page  # the transfer technique is cited
    assert "Recommended test plan" in page and ">Transfer attack<" in page


def test_answering_a_control_yes_lowers_the_current_risk(team, client_for):
    client = client_for(team.assessor)
    answer(client, team, "context.uses_pretrained", "yes")
    answer(client, team, "teacher.source", "public_hub")
    answer(client, team, "teacher.scanned", "no")
    before = current_rating(team, "malicious_model_file").score
    answer(client, team, "teacher.scanned", "yes")
    after = current_rating(team, "malicious_model_file").score
    assert after < before


def test_measured_evidence_rescores_the_register(team):
    services.answer_set(actor=team.assessor, project=team.project, question_id="context.uses_pretrained", raw="yes")
    without = current_rating(team, "backdoor_inherited").likelihood
    services.evidence_record(project=team.project, kind="backdoor_flagged", value=True, source="backdoor scan job 7")
    flagged = current_rating(team, "backdoor_inherited").likelihood
    assert flagged == 5 and flagged >= without
    services.evidence_record(project=team.project, kind="backdoor_flagged", value=False, source="backdoor scan job 8")
    assert current_rating(team, "backdoor_inherited").likelihood < 5  # the latest measurement counts


def test_evidence_counts_per_model_and_a_replaced_version_stops_counting(team):
    from django.core.files.base import ContentFile

    from riskapp.artifacts.models import ModelArtifact

    def model(version, previous=None):
        return ModelArtifact.objects.create(
            project=team.project,
            name="student",
            version=version,
            previous_version=previous,
            original_name="s.safetensors",
            sha256=version * 64,
            size=3,
            file=ContentFile(b"abc", name="m.upload"),
        )

    services.answer_set(actor=team.assessor, project=team.project, question_id="context.uses_pretrained", raw="yes")
    v1, baseline = model("1"), model("2")
    services.evidence_record(project=team.project, kind="backdoor_flagged", value=True, source="scan", model=v1)
    services.evidence_record(project=team.project, kind="backdoor_flagged", value=False, source="scan", model=baseline)
    # A later clean scan of another model does not hide v1's backdoor: the worst model decides.
    assert current_rating(team, "backdoor_inherited").likelihood == 5
    # Once v1 is replaced by a new version, its old measurement no longer speaks for the project.
    fixed = model("3", previous=v1)
    services.evidence_record(project=team.project, kind="backdoor_flagged", value=False, source="scan", model=fixed)
    assert current_rating(team, "backdoor_inherited").likelihood < 5


def test_evidence_about_another_projects_model_is_refused(team):
    from django.core.files.base import ContentFile

    from riskapp.artifacts.models import ModelArtifact
    from riskapp.projects.models import Project

    elsewhere = Project.objects.create(name="Elsewhere", risk_appetite="low", created_by=team.outsider)
    other_project_model = ModelArtifact.objects.create(
        project=elsewhere, name="m", original_name="m.pt", sha256="c" * 64, size=3, file=ContentFile(b"abc", name="m")
    )
    with pytest.raises(ValidationError, match="same project"):
        services.evidence_record(
            project=team.project, kind="backdoor_flagged", value=True, source="x", model=other_project_model
        )


def test_unknown_evidence_kind_is_refused(team):
    with pytest.raises(ValidationError, match="not an evidence kind"):
        services.evidence_record(project=team.project, kind="vibes", value=1, source="x")


# --- workflow ---------------------------------------------------------------------------------------


# These assessments are incomplete: signing them off needs the confirmation (tests/riskapp/assessments/test_signoff.py).
CONFIRMED = {"confirm": "1", "reason": "Pilot sign-off; the open questions are tracked separately."}


def submit(client, team):
    return client.post(url("submit", team), CONFIRMED, follow=True)


def review(client, team, action, comment=""):
    return client.post(url("review", team), {"action": action, "comment": comment, **CONFIRMED}, follow=True)


def test_reviewer_returns_then_approves_a_new_submission_and_history_shows_the_diff(team, client_for):
    assessor = client_for(team.assessor)
    answer(assessor, team, "context.uses_pretrained", "yes")
    answer(assessor, team, "teacher.source", "public_hub")
    assert "Version 1 submitted for review" in submit(assessor, team).content.decode()
    assert latest(team).status == AssessmentStatus.SUBMITTED
    locked = answer(assessor, team, "teacher.source", "in_house")  # answers are locked while in review
    assert locked.status_code == 422 and "waiting for review" in locked.content.decode()

    reviewer = client_for(team.reviewer)
    review(reviewer, team, "return", "Which hub? Pin the teacher's hash.")
    version = latest(team)
    assert version.status == AssessmentStatus.RETURNED and version.review_comment.startswith("Which hub?")

    assessor = client_for(team.assessor)
    answer(assessor, team, "teacher.pinned", "yes")
    submit(assessor, team)
    reviewer = client_for(team.reviewer)
    assert "Version 1 approved" in review(reviewer, team, "approve").content.decode()
    approved = latest(team)
    assert approved.status == AssessmentStatus.APPROVED and approved.snapshot["risks"]

    # An approved version is frozen: the next edit starts version 2 with the answers copied.
    assessor = client_for(team.assessor)
    answer(assessor, team, "teacher.source", "in_house")
    v1, v2 = AssessmentVersion.objects.filter(project=team.project).order_by("number")
    assert v1.answers["teacher.source"] == "public_hub" and v1.status == AssessmentStatus.APPROVED
    assert v2.number == 2 and v2.answers["teacher.source"] == "in_house" and v2.status == AssessmentStatus.DRAFT

    page = client_for(team.viewer).get(url("history", team) + "?a=1&b=2").content.decode()
    source = load_bank().question("teacher.source")
    assert "v1 → v2" in page
    assert (
        f"<del>{source.label_for('public_hub')}</del>" in page and f"<ins>{source.label_for('in_house')}</ins>" in page
    )


def test_whoever_submitted_cannot_approve(team, client_for):
    owner = client_for(team.owner)  # owners may both edit and review
    answer(owner, team, "context.uses_pretrained", "yes")
    submit(owner, team)
    page = review(owner, team, "approve").content.decode()
    assert "four-eyes" in page
    assert latest(team).status == AssessmentStatus.SUBMITTED
    review(client_for(team.reviewer), team, "approve")
    assert latest(team).status == AssessmentStatus.APPROVED


def test_assessor_cannot_approve_and_viewer_cannot_submit(team, client_for):
    answer(client_for(team.assessor), team, "context.uses_pretrained", "yes")
    assert client_for(team.viewer).post(url("submit", team)).status_code == 403
    submit(client_for(team.assessor), team)
    assert client_for(team.assessor).post(url("review", team), {"action": "approve"}).status_code == 403
    assert latest(team).status == AssessmentStatus.SUBMITTED


def test_returning_needs_a_comment(team, client_for):
    answer(client_for(team.assessor), team, "context.uses_pretrained", "yes")
    submit(client_for(team.assessor), team)
    page = review(client_for(team.reviewer), team, "return", "").content.decode()
    assert "needs a comment" in page and latest(team).status == AssessmentStatus.SUBMITTED


def test_each_workflow_step_is_an_audit_event(team, client_for):
    answer(client_for(team.assessor), team, "context.uses_pretrained", "yes")
    submit(client_for(team.assessor), team)
    review(client_for(team.reviewer), team, "approve")
    actions = list(
        AuditEvent.objects.filter(project_id=team.project.pk).order_by("id").values_list("action", flat=True)
    )
    assert actions == [
        "assessment.version_started",
        "assessment.answered",
        "assessment.submitted",
        "assessment.approved",
    ]
    answered = AuditEvent.objects.get(action="assessment.answered")
    assert answered.before == {"context.uses_pretrained": None} and answered.after == {"context.uses_pretrained": "yes"}


# --- treatments -------------------------------------------------------------------------------------


def treat(client, team, threat, **fields):
    data = {f"{threat}-{key}": value for key, value in fields.items()}
    return client.post(url("treatment", team, threat_id=threat), data, follow=True)


def test_accepting_a_risk_needs_an_owner_a_rationale_and_an_expiry(team, client_for):
    page = treat(client_for(team.reviewer), team, "model_inversion", treatment="accept").content.decode()
    assert "Accepting a risk needs an owner, a rationale, an expiry date" in page
    assert not RiskTreatment.objects.exists()


def test_risk_above_appetite_can_be_accepted_only_by_a_reviewer(team, client_for):
    team.project.risk_appetite = "low"
    team.project.save()
    # "Don't know" on one of its questions: the threat is assessed, as the worst case, so above a low appetite.
    services.answer_set(
        actor=team.assessor, project=team.project, question_id="context.security_decision", raw="unknown"
    )
    future = (timezone.localdate() + datetime.timedelta(days=90)).isoformat()
    fields = {"treatment": "accept", "owner": team.owner.pk, "rationale": "Internal tool", "expires_on": future}
    page = treat(client_for(team.assessor), team, "evasion_white_box", **fields).content.decode()
    assert "only a reviewer can accept it" in page and not RiskTreatment.objects.exists()
    treat(client_for(team.reviewer), team, "evasion_white_box", **fields)
    accepted = RiskTreatment.objects.get()
    assert (accepted.treatment, accepted.owner, accepted.decided_by) == ("accept", team.owner, team.reviewer)


def test_assessor_can_choose_mitigate_and_viewer_cannot_treat(team, client_for):
    treat(client_for(team.assessor), team, "evasion_white_box", treatment="mitigate")
    assert RiskTreatment.objects.get().treatment == "mitigate"
    assert client_for(team.viewer).post(url("treatment", team, threat_id="evasion_white_box")).status_code == 403


def test_expired_acceptance_shows_as_overdue(team, client_for):
    RiskTreatment.objects.create(
        project=team.project,
        threat_id="model_inversion",
        treatment="accept",
        owner=team.owner,
        rationale="Low value data",
        decided_by=team.reviewer,
        expires_on=timezone.localdate() - datetime.timedelta(days=1),
    )
    page = client_for(team.viewer).get(url("register", team)).content.decode()
    assert "overdue" in page
    document = json.loads(client_for(team.viewer).get(url("export_json", team)).content)
    row = next(r for r in document["risks"] if r["threat"] == "model_inversion")
    assert row["acceptance_overdue"] is True and row["treatment"] == "accept"


def test_acceptance_must_expire_in_the_future(team):
    with pytest.raises(ValidationError, match="expire in the future"):
        services.treatment_set(
            actor=team.reviewer,
            project=team.project,
            threat_id="model_inversion",
            treatment="accept",
            actor_can_review=True,
            owner=team.owner,
            rationale="x",
            expires_on=timezone.localdate(),
        )


def test_unknown_threat_treatment_is_404(team, client_for):
    assert client_for(team.owner).post(url("treatment", team, threat_id="no_such_threat")).status_code == 404


# --- exports ----------------------------------------------------------------------------------------


def test_register_exports_as_csv_and_json_with_the_same_scores(team, client_for):
    services.answer_set(actor=team.assessor, project=team.project, question_id="context.uses_pretrained", raw="yes")
    client = client_for(team.viewer)
    response = client.get(url("export_csv", team))
    assert response["Content-Disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    document = json.loads(client.get(url("export_json", team)).content)
    assert len(rows) == len(document["risks"]) >= 14
    by_threat = {r["threat"]: r for r in rows}
    for risk in document["risks"]:
        assert int(by_threat[risk["threat"]]["current_score"]) == risk["current"]["score"]
        if risk["assessed"]:
            assert risk["current"]["score"] == risk["current"]["likelihood"] * risk["current"]["impact"]
        else:  # none of its questions answered yet: no score, and said so
            assert (risk["current"]["score"], risk["current"]["band"], risk["answered"]) == (0, "not_assessed", 0)
    assert any(risk["assessed"] for risk in document["risks"]) and not all(r["assessed"] for r in document["risks"])
    assert document["assessment"]["version"] == 1


def test_csv_export_neutralises_spreadsheet_formulas(team, client_for):
    from django.contrib.auth import get_user_model

    from riskapp.projects.models import Membership

    evil = get_user_model().objects.create_user(username="=HYPERLINK(evil)", password="x")
    Membership.objects.create(project=team.project, user=evil, role="viewer")
    RiskTreatment.objects.create(project=team.project, threat_id="model_inversion", treatment="mitigate", owner=evil)
    text = client_for(team.viewer).get(url("export_csv", team)).content.decode()
    assert "'=HYPERLINK(evil)" in text and ",=HYPERLINK" not in text


def test_assessment_exports_as_markdown_and_printable_html(team, client_for):
    services.answer_set(actor=team.assessor, project=team.project, question_id="context.uses_pretrained", raw="yes")
    client = client_for(team.viewer)
    markdown = client.get(url("export_markdown", team)).content.decode()
    assert markdown.startswith("# Threat-model assessment: Traffic signs")
    assert "| Threat | ATLAS |" in markdown and "## Answers" in markdown and "Yes" in markdown
    printable = client.get(url("export_print", team)).content.decode()
    assert "Threat-model assessment: Traffic signs" in printable and "Recommended test plan" in printable


def test_about_the_content_page_gives_attribution(client, db):
    page = client.get(reverse("about_content")).content.decode()
    assert "Apache License 2.0" in page and "CC BY-SA 4.0" in page and "NIST" in page


def test_register_page_queries_do_not_grow_with_members_or_treatments(team, client_for):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from riskapp.projects.models import Membership

    client = client_for(team.owner)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url("register", team)).status_code == 200
        return len(queries.captured_queries)

    count()  # warm up: the first request of a session reads more
    before = count()
    assert before < len(load_bank().threats)  # not one query per risk row
    for n in range(10):
        user = get_user_model().objects.create_user(username=f"member{n}", password="x")
        Membership.objects.create(project=team.project, user=user, role="viewer")
    for threat in ("model_inversion", "model_extraction", "drift_skewing"):
        RiskTreatment.objects.create(project=team.project, threat_id=threat, treatment="mitigate", owner=team.owner)
    assert count() == before
