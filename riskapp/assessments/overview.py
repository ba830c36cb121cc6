"""The assessment's part of the project overview's figures (riskapp.dashboards.overview.project_summary)."""

from collections import Counter
from typing import Any

from riskapp.assessments.register import register_rows
from riskapp.bands import Band
from riskapp.projects.models import Project


def project_risk_summary(project: Project) -> dict[str, Any]:
    """The latest assessment, threats per current band (highest first), and what needs a reviewer's attention."""
    version = project.assessment_versions.order_by("-number").first()
    register, rows = register_rows(project, version.answers if version else {})
    bands = Counter(row.risk.current.band for row in rows)
    return {
        "assessment": version,
        "bands": [(band, bands.get(band, 0)) for band in reversed(Band.rated())],
        "not_assessed": bands.get(Band.NOT_ASSESSED, 0),
        "completeness": register.completeness,
        "highest_band": Band.highest_rated(bands),
        "above_appetite": sum(row.above_appetite for row in rows),
        "overdue": sum(row.acceptance_overdue for row in rows),
    }
