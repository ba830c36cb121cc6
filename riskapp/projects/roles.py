"""Project roles and what each may do. The one table every access check reads."""

import enum

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ASSESSOR = "assessor", "Assessor"
    REVIEWER = "reviewer", "Reviewer"
    VIEWER = "viewer", "Viewer"


class Capability(enum.Enum):
    VIEW = "view"  # read everything of the project
    EDIT = "edit"  # edit assessments, upload models and data, run and cancel jobs
    REVIEW = "review"  # approve or return assessments, accept risk
    MANAGE = "manage"  # members and project settings


ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.OWNER: frozenset(Capability),
    Role.ASSESSOR: frozenset({Capability.VIEW, Capability.EDIT}),
    Role.REVIEWER: frozenset({Capability.VIEW, Capability.REVIEW}),
    Role.VIEWER: frozenset({Capability.VIEW}),
}


def role_can(role: str, capability: Capability) -> bool:
    return capability in ROLE_CAPABILITIES.get(role, frozenset())
