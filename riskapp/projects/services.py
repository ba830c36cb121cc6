"""Every write to projects and memberships, each with its audit event."""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from riskapp.audit.services import audit_record
from riskapp.projects.models import Membership, Project
from riskapp.projects.roles import Role


def _project_fields(project: Project) -> dict:
    return {"name": project.name, "description": project.description, "risk_appetite": project.risk_appetite}


@transaction.atomic
def project_create(*, user: AbstractBaseUser, name: str, description: str = "", risk_appetite: str) -> Project:
    """Create a project; its creator becomes its first owner."""
    project = Project.objects.create(name=name, description=description, risk_appetite=risk_appetite, created_by=user)
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    audit_record(
        actor=user, action="project.created", target=project, project_id=project.pk, after=_project_fields(project)
    )
    return project


@transaction.atomic
def project_update(
    *, actor: AbstractBaseUser, project: Project, name: str, description: str, risk_appetite: str
) -> Project:
    before = _project_fields(project)
    project.name, project.description, project.risk_appetite = name, description, risk_appetite
    project.full_clean()
    project.save()
    audit_record(
        actor=actor,
        action="project.updated",
        target=project,
        project_id=project.pk,
        before=before,
        after=_project_fields(project),
    )
    return project


def _locked_for_change(membership: Membership) -> Membership:
    """The membership, re-read under a row lock, with the project's owner memberships locked first.

    Two owners who demote or remove each other at the same moment would each still see the other as
    owner and both go ahead, leaving the project with none. Whoever locks the owner rows first decides;
    the other waits, then reads who is owner after that change. Every change takes the owners' locks
    before the membership's own, in id order, so that two changes never wait on each other.
    """
    owners = Membership.objects.select_for_update().filter(project_id=membership.project_id, role=Role.OWNER)
    list(owners.order_by("pk").values_list("pk", flat=True))  # evaluated for its locks
    try:
        return Membership.objects.select_for_update().get(pk=membership.pk)
    except Membership.DoesNotExist:
        # Removed by someone else since this request read it: a refusal to show, not a server error.
        raise ValidationError(
            f"{membership.user.get_username()} is no longer a member of this project (someone removed them "
            "a moment ago); reload the members page."
        ) from None


def _ensure_an_owner_remains(leaving: Membership) -> None:
    """Call with the owners locked (_locked_for_change), in the transaction of the change."""
    if leaving.role != Role.OWNER:
        return
    others = Membership.objects.filter(project_id=leaving.project_id, role=Role.OWNER).exclude(pk=leaving.pk)
    if not others.exists():
        raise ValidationError("A project needs at least one owner: make someone else owner first.")


@transaction.atomic
def membership_add(*, actor: AbstractBaseUser, project: Project, user: AbstractBaseUser, role: str) -> Membership:
    if Membership.objects.filter(project=project, user=user).exists():
        raise ValidationError(f"{user.get_username()} is already a member of this project.")
    membership = Membership.objects.create(project=project, user=user, role=Role(role))
    audit_record(
        actor=actor,
        action="membership.added",
        target=membership,
        project_id=project.pk,
        after={"user": user.get_username(), "role": membership.role},
    )
    return membership


@transaction.atomic
def membership_set_role(*, actor: AbstractBaseUser, membership: Membership, role: str) -> Membership:
    membership = _locked_for_change(membership)
    before = membership.role
    if role != Role.OWNER:
        _ensure_an_owner_remains(membership)
    membership.role = Role(role)
    membership.save(update_fields=["role"])
    audit_record(
        actor=actor,
        action="membership.role_changed",
        target=membership,
        project_id=membership.project_id,
        before={"role": before},
        after={"role": membership.role},
    )
    return membership


@transaction.atomic
def membership_remove(*, actor: AbstractBaseUser, membership: Membership) -> None:
    membership = _locked_for_change(membership)
    _ensure_an_owner_remains(membership)
    audit_record(
        actor=actor,
        action="membership.removed",
        target=membership,
        project_id=membership.project_id,
        before={"user": membership.user.get_username(), "role": membership.role},
    )
    membership.delete()
