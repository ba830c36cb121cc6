"""The project overview's figures, read from the apps that own them.

Apps that depend on projects (the assessments) may not be imported from here: they add their part of the
summary with `summary_part_register`, from their AppConfig.ready()."""

from collections.abc import Callable
from typing import Any

from riskapp.artifacts.models import IntakeStatus
from riskapp.projects.models import Project

SummaryPart = Callable[[Project], dict[str, Any]]
_parts: list[SummaryPart] = []


def summary_part_register(part: SummaryPart) -> SummaryPart:
    """Add `part`'s figures to every project summary (registering the same part twice adds it once)."""
    if part not in _parts:
        _parts.append(part)
    return part


def project_summary(*, project: Project) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "models": project.models.count(),
        "models_ready": project.models.filter(status=IntakeStatus.READY).count(),
        "datasets": project.datasets.count(),
        "findings": project.findings.count(),
    }
    for part in _parts:
        summary |= part(project)
    return summary
