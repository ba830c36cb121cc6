"""A new project's register reads "not assessed yet" with its completeness, on every page that shows risk, and
"don't know" still scores as the worst case once answered."""

import pytest
from django.urls import reverse

from riskapp.assessments import services
from riskapp.assessments.bank import load_bank
from riskapp.assessments.register import register_rows
from riskapp.dashboards.models import ProjectRiskSummary

pytestmark = pytest.mark.django_db


def test_a_new_empty_project_has_no_critical_risk_and_nothing_above_its_appetite(team):
    _, rows = register_rows(team.project, {})
    assert [row.risk.current.band for row in rows] == ["not_assessed"] * len(load_bank().threats)
    assert not any(row.above_appetite for row in rows)


def test_pages_say_not_assessed_yet_with_the_completeness(team, client_for):
    client = client_for(team.viewer)
    questions = len(load_bank().questions)  # with nothing answered, no question is hidden
    completeness = f"0 of {questions} questions answered"
    register = client.get(reverse("projects:assessments:register", args=[team.project.pk])).content.decode()
    assert completeness in register and "not assessed yet" in register
    assert "badge-critical" not in register and "above appetite</span>" not in register
    risk = client.get(reverse("projects:dashboards:risk", args=[team.project.pk])).content.decode()
    assert (
        completeness in risk
        and f"{len(load_bank().threats)} of {len(load_bank().threats)} threats not assessed yet" in risk
    )
    overview = client.get(reverse("projects:detail", args=[team.project.pk])).content.decode()
    assert completeness in overview and "0 critical" in overview
    portfolio = client.get(reverse("dashboards:portfolio")).content.decode()
    assert completeness in portfolio and "threats not assessed yet" in portfolio
    for export in ("projects:assessments:export_markdown", "projects:assessments:export_print"):
        text = client.get(reverse(export, args=[team.project.pk])).content.decode()
        assert "not assessed yet" in text
    summary = ProjectRiskSummary.objects.get(project=team.project)
    assert (summary.band_counts["critical"], summary.above_appetite, summary.highest_band) == (0, 0, "")


def test_answers_make_a_threat_assessed_and_dont_know_still_scores_the_worst_case(team, client_for):
    services.answer_set(actor=team.owner, project=team.project, question_id="deployment.query_cost", raw="unknown")
    _, rows = register_rows(team.project, team.project.assessment_versions.get().answers)
    bands = {row.threat.id: row.risk.current.band for row in rows}
    # "Don't know" on its one question assesses denial of service, as the worst case; a threat it does not
    # bear on stays not assessed.
    assert bands["denial_of_service"] == "critical" and bands["model_theft"] == "not_assessed"
    page = client_for(team.viewer).get(reverse("projects:assessments:register", args=[team.project.pk]))
    assert "1 of " in page.content.decode() and " questions answered" in page.content.decode()
