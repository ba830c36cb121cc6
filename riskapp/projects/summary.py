"""The project overview's figures, read from the apps that own them."""

from collections import Counter
from typing import Any

from riskapp.artifacts.models import IntakeStatus
from riskapp.assessments.register import BAND_ORDER, register_rows
from riskapp.assessments.scoring import NOT_ASSESSED
from riskapp.projects.models import Project


def project_summary(*, project: Project) -> dict[str, Any]:
    version = project.assessment_versions.order_by("-number").first()
    register, rows = register_rows(project, version.answers if version else {})
    bands = Counter(row.risk.current.band for row in rows)
    rated = [band for band in bands if band != NOT_ASSESSED]
    return {
        "assessment": version,
        "bands": [(band, bands.get(band, 0)) for band in reversed(BAND_ORDER) if band != NOT_ASSESSED],
        "not_assessed": bands.get(NOT_ASSESSED, 0),
        "completeness": register.completeness,
        "highest_band": max(rated, key=BAND_ORDER.index) if rated else None,
        "above_appetite": sum(row.above_appetite for row in rows),
        "overdue": sum(row.acceptance_overdue for row in rows),
        "models": project.models.count(),
        "models_ready": project.models.filter(status=IntakeStatus.READY).count(),
        "datasets": project.datasets.count(),
        "findings": project.findings.count(),
    }
