"""What the project overview shows beyond the project itself: its figures, ship verdict and latest jobs.

Those belong to the apps that build on projects, and nothing here may import them
(tests/riskapp/projects/test_dependency_direction.py). The layer that composes the apps, riskapp.dashboards,
adds them with `overview_part_register` from its AppConfig.ready()."""

from collections.abc import Callable
from typing import Any

from riskapp.projects.models import Project

OverviewPart = Callable[[Project], dict[str, Any]]
_parts: list[OverviewPart] = []


def overview_part_register(part: OverviewPart) -> OverviewPart:
    """Add `part`'s page context to every project overview (registering the same part twice adds it once)."""
    if part not in _parts:
        _parts.append(part)
    return part


def overview_context(*, project: Project) -> dict[str, Any]:
    """The overview page's context from every registered part."""
    context: dict[str, Any] = {}
    for part in _parts:
        context |= part(project)
    return context
