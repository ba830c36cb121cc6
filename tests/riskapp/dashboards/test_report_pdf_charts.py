"""The PDF report carries the report page's charts, drawn as static SVG on the server (no browser, no script),
and the reasons behind decisions: why each risk was accepted, and why a sign-off went ahead despite open
problems (the reason kept in its audit event)."""

import datetime
import io
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from riskapp.assessments import services
from riskapp.assessments.models import AssessmentVersion
from riskapp.dashboards.report_pdf import report_pdf_html

pytestmark = pytest.mark.django_db
ACCEPTED = "Only reachable from the internal network until the new gateway ships."
OVERRIDE = "Pilot with one customer; the open answers are scheduled for next sprint."


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def test_the_pdf_gives_the_reasons_for_accepted_risks_and_for_sign_offs_despite_problems(team, client_for):
    project = team.project
    services.answer_set(actor=team.assessor, project=project, question_id="context.uses_pretrained", raw="yes")
    services.treatment_set(
        actor=team.reviewer,
        project=project,
        threat_id="model_theft",
        treatment="accept",
        actor_can_review=True,
        owner=team.reviewer,
        rationale=ACCEPTED,
        expires_on=timezone.localdate() + datetime.timedelta(days=90),
    )
    version = AssessmentVersion.objects.get(project=project)
    services.assessment_submit(actor=team.assessor, version=version, confirmed=True, reason=OVERRIDE)

    url = reverse("projects:dashboards:report_pdf", kwargs={"project_id": project.pk})
    text = pdf_text(client_for(team.viewer).get(url).content)
    assert "Why risks were accepted" in text and ACCEPTED in text and "Theft of model weights" in text
    assert "Sign-offs despite open problems" in text and OVERRIDE in text
    assert "The questionnaire is incomplete: 1 of" in text[text.index(OVERRIDE) :]


def test_the_pdf_html_draws_the_risk_grid_as_inline_svg(team):
    services.answer_set(actor=team.assessor, project=team.project, question_id="context.uses_pretrained", raw="yes")
    html = report_pdf_html(team.project)
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert "Risks by likelihood × impact" in svg and svg.count("<rect") == 25
    assert "<script" not in html and "http" not in svg.replace("http://www.w3.org/2000/svg", "")
