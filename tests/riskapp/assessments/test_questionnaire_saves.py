"""Saving an answer from the questionnaire (htmx): "Saved" beside the question, an out-of-range number refused
beside its field with nothing saved, and no sign-off check on the way (the status panel works that out)."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from riskapp.assessments import services, views
from riskapp.assessments.models import AssessmentVersion
from riskapp.audit.models import AuditEvent

TARGET = "requirements.robust_accuracy_target"  # a number from 0 to 1


def url(name, team):
    return reverse(f"projects:assessments:{name}", kwargs={"project_id": team.project.pk})


def save(client, team, question, value):
    return client.post(url("answer", team), {"question": question, "value": [value]}, headers={"HX-Request": "true"})


def question_block(html: str, question: str) -> str:
    start = html.index(f'id="q-{question}"')
    return html[start : html.index('<div class="question', start + 1)]


def answers(team) -> dict:
    return AssessmentVersion.objects.get(project=team.project).answers


def test_a_saved_answer_says_saved_beside_its_question_and_asks_the_status_panel_to_reload(team, client_for):
    response = save(client_for(team.assessor), team, "context.uses_pretrained", "yes")
    html = response.content.decode()
    assert response.status_code == 200 and response["HX-Trigger"] == "answer-saved"
    assert 'role="status">Saved</p>' in question_block(html, "context.uses_pretrained")
    assert html.count(">Saved</p>") == 1


def test_an_out_of_range_number_is_refused_beside_its_field_and_the_previous_value_stays(team, client_for):
    client = client_for(team.assessor)
    save(client, team, TARGET, "0.6")
    events = AuditEvent.objects.count()

    response = save(client, team, TARGET, "5")
    block = question_block(response.content.decode(), TARGET)
    assert response.status_code == 422 and "HX-Trigger" not in response
    assert "Not saved: expected a number between 0" in block
    assert TARGET + ":" not in block  # the message speaks of the field it sits beside, not of an internal id
    assert 'aria-invalid="true"' in block and 'value="0.6"' in block and ">Saved<" not in block
    # No min/max attributes: the browser would silently skip the save instead of showing the refusal.
    assert 'max="' not in block and "from 0" in block
    assert answers(team)[TARGET] == 0.6 and AuditEvent.objects.count() == events


def test_neither_the_questionnaire_nor_an_answer_save_works_out_the_signoff_problems(team, client_for, monkeypatch):
    services.answer_set(actor=team.assessor, project=team.project, question_id="context.uses_pretrained", raw="yes")
    calls = []
    real = views.signoff_problems
    monkeypatch.setattr(views, "signoff_problems", lambda **kw: calls.append(kw) or real(**kw))
    client = client_for(team.assessor)

    assert "Checking the assessment" in client.get(url("questionnaire", team)).content.decode()
    with CaptureQueriesContext(connection) as saving:
        assert save(client, team, "context.security_decision", "unknown").status_code == 200
    assert calls == []
    assert len(saving) <= 12, [query["sql"] for query in saving]

    status = client.get(url("status", team)).content.decode()
    assert len(calls) == 1 and "The questionnaire is incomplete: 2 of" in status
    assert 'hx-trigger="answer-saved from:body"' in status
