"""Writes of quality gates (audited). Running a model's test plan is riskapp.assessments.plan_runs."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from riskapp.audit.services import audit_record
from riskapp.gates.models import QualityGate
from riskapp.projects.models import Project


def _snapshot(gate: QualityGate) -> dict[str, Any]:
    return {"kind": gate.kind, "params": gate.params, "enabled": gate.enabled}


@transaction.atomic
def gate_create(
    *, actor: AbstractBaseUser, project: Project, kind: str, params: dict[str, Any], enabled: bool = True
) -> QualityGate:
    gate = QualityGate.objects.create(project=project, kind=kind, params=params, enabled=enabled)
    audit_record(actor=actor, action="gate.created", target=gate, project_id=project.pk, after=_snapshot(gate))
    return gate


@transaction.atomic
def gate_update(
    *, actor: AbstractBaseUser, gate: QualityGate, kind: str, params: dict[str, Any], enabled: bool
) -> QualityGate:
    before = _snapshot(gate)
    gate.kind, gate.params, gate.enabled = kind, params, enabled
    gate.save()
    audit_record(
        actor=actor,
        action="gate.updated",
        target=gate,
        project_id=gate.project_id,
        before=before,
        after=_snapshot(gate),
    )
    return gate


@transaction.atomic
def gate_delete(*, actor: AbstractBaseUser, gate: QualityGate) -> None:
    audit_record(actor=actor, action="gate.deleted", target=gate, project_id=gate.project_id, before=_snapshot(gate))
    gate.delete()
