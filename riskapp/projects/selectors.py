"""Every read of project data starts here: scoped by the user's membership.

An object of a project the user is not a member of answers 404, never 403, so that
outsiders cannot even learn that it exists. A member without the needed role gets 403.
"""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from riskapp.projects.models import Membership, Project
from riskapp.projects.roles import Capability, Role, role_can


@dataclass(frozen=True)
class ProjectAccess:
    project: Project
    role: str

    def can(self, capability: Capability) -> bool:
        return role_can(self.role, capability)

    @property
    def can_edit(self) -> bool:
        return self.can(Capability.EDIT)

    @property
    def can_review(self) -> bool:
        return self.can(Capability.REVIEW)

    @property
    def can_manage(self) -> bool:
        return self.can(Capability.MANAGE)

    @property
    def role_label(self) -> str:
        return Role(self.role).label


def memberships_for_user(*, user: AbstractBaseUser) -> QuerySet[Membership]:
    """The user's memberships with their projects, for lists of "my projects"."""
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("project").order_by("project__name", "project_id")


def project_access(
    *, user: AbstractBaseUser, project_id: int, capability: Capability = Capability.VIEW
) -> ProjectAccess:
    """The project and the user's role in it; 404 for non-members, 403 for a missing capability."""
    if not user.is_authenticated:
        raise Http404("No such project.")
    membership = Membership.objects.select_related("project").filter(project_id=project_id, user=user).first()
    if membership is None:
        raise Http404("No such project.")
    access = ProjectAccess(project=membership.project, role=membership.role)
    if not access.can(capability):
        raise PermissionDenied(f"Your role ({access.role_label}) does not allow this.")
    return access


def project_memberships(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("user__username")
