"""The catalogue's machinery: a case is one bad request, the status it must get, where its error is read and
what the error must say; walking a case also proves that the refused request changed nothing."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.core.files.storage import default_storage

from riskapp.artifacts.models import DatasetArtifact, Finding, ModelArtifact
from riskapp.assessments.models import AssessmentVersion, Evidence, RiskTreatment
from riskapp.audit.models import AuditEvent
from riskapp.gates.models import QualityGate
from riskapp.jobs.models import Job
from riskapp.projects.models import Membership, Project


@dataclass(frozen=True)
class Refused:
    """A request that must be refused.

    `says` maps where the error is read (see `error_at`) to a fragment the error must contain there; the
    fragments name what is wrong and, where there is one, the fix. `given` prepares the world first."""

    id: str
    request: Callable[[Any], Any]
    status: int
    says: dict[str, str]
    given: Callable[[Any], None] | None = None
    tags: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return self.id


def by_route(**tables: list[Refused]) -> list:
    """pytest params of every case, each id prefixed by its table's name: by_route(API=[...], browser=[...])."""
    return [pytest.param(case, id=f"{route}: {case.id}") for route, cases in tables.items() for case in cases]


def error_at(response, where: str) -> str:
    """The error text at `where`:

    - "message": the messages the page queued for the user (a redirect's flash messages);
    - "form:<context name>/<field>": a re-rendered form's errors on that field ("__all__" for the form's own);
    - "context:<name>": a value the page rendered (the questionnaire's error);
    - "a/b/c": the API's JSON body, key by key ("detail" for the request as a whole).
    """
    if where == "message":
        return " | ".join(str(message) for message in get_messages(response.wsgi_request))
    if where.startswith("form:"):
        name, field_name = where.removeprefix("form:").split("/")
        return " ".join(response.context[name].errors.get(field_name, []))
    if where.startswith("context:"):
        return str(response.context[where.removeprefix("context:")])
    node = response.json()
    for key in where.split("/"):
        node = node[key]
    return " ".join(_texts(node))


def _texts(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in _texts(value)]
    if isinstance(node, list):
        return [text for value in node for text in _texts(value)]
    return [str(node)]


def _files(folder: str) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(root, name), folder) for root, _, names in os.walk(folder) for name in names
    )


def state() -> dict[str, Any]:
    """Everything a refused request must leave as it was: the project data, the audit trail, the stored files."""
    return {
        "projects": list(Project.objects.order_by("pk").values_list("pk", "name", "description", "risk_appetite")),
        "members": list(Membership.objects.order_by("pk").values_list("pk", "project_id", "user_id", "role")),
        "answers": list(AssessmentVersion.objects.order_by("pk").values_list("pk", "number", "status", "answers")),
        "treatments": list(
            RiskTreatment.objects.order_by("pk").values_list("pk", "treatment", "owner_id", "rationale", "expires_on")
        ),
        "gates": list(QualityGate.objects.order_by("pk").values_list("pk", "kind", "params", "enabled")),
        "jobs": list(Job.objects.order_by("pk").values_list("pk", "kind", "status", "parameters", "cancel_requested")),
        "models": list(ModelArtifact.objects.order_by("pk").values_list("pk", "name", "status", "num_classes", "file")),
        "datasets": list(DatasetArtifact.objects.order_by("pk").values_list("pk", "name", "status", "file")),
        "findings": Finding.objects.count(),
        "evidence": Evidence.objects.count(),
        "audit": AuditEvent.objects.count(),
        "stored files": _files(default_storage.location),
        "upload temporary files": _files(settings.FILE_UPLOAD_TEMP_DIR),
    }


def body(response) -> str:
    """The response, short, for a failed assertion's message."""
    return f"{response.status_code} {response.content[:1500]!r}"


def check_refused(world, case: Refused) -> None:
    """Send the case's request: the status, the error at each place, and nothing changed."""
    if case.given is not None:
        case.given(world)
    before = state()
    response = case.request(world)
    assert response.status_code == case.status, body(response)
    for where, fragment in case.says.items():
        text = error_at(response, where)
        assert fragment in text, f"{where}: {fragment!r} not in {text!r}"
    after = state()
    assert after == before, {key: (before[key], after[key]) for key in before if before[key] != after[key]}
