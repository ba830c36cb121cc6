"""Reads of a project's gates, scoped through the project the caller already has access to."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from riskapp.artifacts.models import ModelArtifact
from riskapp.gates.models import QualityGate
from riskapp.projects.models import Project


def gates_for_project(*, project: Project) -> QuerySet[QualityGate]:
    return project.gates.order_by("id")


def gate_for_project(*, project: Project, gate_id: int) -> QualityGate:
    """Another project's gate id answers 404."""
    return get_object_or_404(project.gates, pk=gate_id)


def model_for_project(*, project: Project, model_id: int) -> ModelArtifact:
    return get_object_or_404(project.models.select_related("parent"), pk=model_id)
