"""Keeping each project's portfolio summary current."""

from collections import Counter

from django.utils import timezone

from riskapp.assessments.models import AssessmentStatus, Treatment
from riskapp.assessments.register import register_rows
from riskapp.bands import Band
from riskapp.dashboards.models import ProjectRiskSummary
from riskapp.gates.selectors import project_verdict
from riskapp.projects.models import Project


def risk_summary_refresh(*, project: Project) -> ProjectRiskSummary:
    """Score the project's register now and store the portfolio's figures for it."""
    versions = list(project.assessment_versions.order_by("-number")[:1])
    version = versions[0] if versions else None
    register, rows = register_rows(project, version.answers if version else {})
    bands = Counter(row.risk.current.band for row in rows)
    highest = Band.highest_rated(bands)  # the highest band of the threats assessed so far
    approved = project.assessment_versions.filter(status=AssessmentStatus.APPROVED).order_by("-number").first()
    baseline = None
    if approved and approved.snapshot:
        baseline = sum(risk["current"]["score"] for risk in approved.snapshot.get("risks", {}).values())
    expiries = sorted(
        row.treatment.expires_on
        for row in rows
        if row.treatment and row.treatment.treatment == Treatment.ACCEPT and row.treatment.expires_on
    )
    today = timezone.localdate()
    summary, _ = ProjectRiskSummary.objects.update_or_create(
        project=project,
        defaults={
            "highest_band": highest.value if highest else "",
            "band_counts": {band.value: bands.get(band, 0) for band in Band},
            "risk_score": sum(row.risk.current.score for row in rows),
            "baseline_score": baseline,
            "above_appetite": sum(row.above_appetite for row in rows),
            "questions": register.questions,
            "answered": register.answered,
            "acceptance_expiries": [day.isoformat() for day in expiries],
            "next_expiry": expiries[0] if expiries else None,
            "assessment_status": version.status if version else "",
            "assessment_version": version.number if version else None,
            "verdict": project_verdict(project=project, today=today, rows=rows).as_dict(),
            "verdict_on": today,
            "stale": False,
        },
    )
    return summary
