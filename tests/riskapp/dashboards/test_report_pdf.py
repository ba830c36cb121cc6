"""The printable report as a PDF: rendered server-side, the verdict and its reasons first, for members only; and a
non-member gets the plain 404 page even in `make run` mode (DEBUG on), never Django's debug page."""

import io
import re

import pytest
from django.urls import reverse
from pypdf import PdfReader

from riskapp.gates.selectors import project_verdict
from tests.riskapp.gates import test_verdict_pages as verdict_fixtures

shippable = verdict_fixtures.shippable  # a project whose verdict is "ready to ship"

pytestmark = pytest.mark.django_db
PLAIN_404 = "There is nothing here, or you are not a member of its project."


def pdf_url(team) -> str:
    return reverse("projects:dashboards:report_pdf", kwargs={"project_id": team.project.pk})


def pdf_text(content: bytes) -> str:
    """The PDF's text, its whitespace (line breaks of the layout) folded to single spaces."""
    reader = PdfReader(io.BytesIO(content))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def test_member_downloads_the_report_as_a_pdf_that_starts_with_the_verdict_and_its_reasons(team, client_for):
    team.project.description = 'Road-sign classifier <img src="file:///etc/passwd">'
    team.project.save()
    response = client_for(team.viewer).get(pdf_url(team))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="traffic-signs-report.pdf"'
    assert response.content.startswith(b"%PDF-")

    text = pdf_text(response.content)
    verdict = project_verdict(project=team.project)
    assert verdict.label == "Do not ship"
    assert text.index("Ship verdict: Do not ship") < text.index("Executive summary") < text.index("Risk register")
    for reason in verdict.reasons:
        assert reason.text in text
        assert text.index(reason.text) < text.index("Executive summary")
    # A user's text is text in the PDF, never markup that fetches something.
    assert 'Road-sign classifier <img src="file:///etc/passwd">' in text


def test_the_pdf_judges_the_newest_model_version_as_the_pages_do(team, client_for, shippable):
    text = pdf_text(client_for(team.reviewer).get(pdf_url(team)).content)
    verdict = project_verdict(project=team.project)
    assert text.index(f"Ship verdict: {verdict.label}") < text.index("Executive summary")
    assert "For student v1, the newest version that is not a teacher." in text
    assert verdict.reasons[0].text in text


def test_report_page_links_its_pdf(team, client_for):
    page = client_for(team.viewer).get(reverse("projects:dashboards:report", args=[team.project.pk])).content.decode()
    assert f'href="{pdf_url(team)}"' in page


@pytest.mark.parametrize("who", ["outsider", "staff"])
def test_non_member_gets_the_plain_404_page_with_debug_on(team, client_for, settings, who):
    settings.DEBUG = True  # as `make run` serves it
    for url in (pdf_url(team), reverse("projects:detail", kwargs={"project_id": team.project.pk})):
        response = client_for(getattr(team, who)).get(url)
        assert response.status_code == 404
        page = response.content.decode()
        assert PLAIN_404 in page
        assert "URLconf" not in page and "DEBUG = True" not in page  # Django's debug 404 page says both
