"""The project overview's figures, read from the apps that own them."""

from collections import Counter
from typing import Any

from riskapp.artifacts.models import IntakeStatus
from riskapp.assessments.register import BAND_ORDER, register_rows
from riskapp.projects.models import Project


def project_summary(*, project: Project) -> dict[str, Any]:
    version = project.assessment_versions.order_by("-number").first()
    _, rows = register_rows(project, version.answers if version else {})
    bands = Counter(row.risk.current.band for row in rows)
    return {
        "assessment": version,
        "bands": [(band, bands.get(band, 0)) for band in reversed(BAND_ORDER)],
        "highest_band": max(bands, key=BAND_ORDER.index) if bands else None,
        "above_appetite": sum(row.above_appetite for row in rows),
        "overdue": sum(row.acceptance_overdue for row in rows),
        "models": project.models.count(),
        "models_ready": project.models.filter(status=IntakeStatus.READY).count(),
        "datasets": project.datasets.count(),
        "findings": project.findings.count(),
    }
