from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from riskapp.audit.models import AuditEvent


def audit_record(
    *,
    actor: AbstractBaseUser | None,
    action: str,
    target: Any,
    project_id: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Append one audit event. Call it inside the transaction of the change it records."""
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        project_id=project_id,
        action=action,
        target_type=type(target).__name__.lower(),
        target_id=str(target.pk),
        before=before,
        after=after,
    )
