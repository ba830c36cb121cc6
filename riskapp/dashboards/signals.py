"""Mark a project's portfolio summary stale when something that moves its scores changes.

Marking is one UPDATE; the re-scoring happens when the portfolio is next read (selectors.portfolio_rows).
Jobs are not watched: the portfolio reads "last tested" from the jobs table itself, in one query, and a job that
succeeds records evidence (watched). The ship verdict also reads gates and models, so those are watched too.
"""

from django.db.models.signals import post_delete, post_save

from riskapp.artifacts.models import ModelArtifact
from riskapp.assessments.models import AssessmentVersion, Evidence, RiskTreatment
from riskapp.dashboards.models import ProjectRiskSummary
from riskapp.gates.models import QualityGate
from riskapp.projects.models import Project


def _mark_stale(project_id: int | None) -> None:
    if project_id is not None:
        ProjectRiskSummary.objects.filter(project_id=project_id, stale=False).update(stale=True)


def _on_project_data(sender, instance, **kwargs) -> None:
    _mark_stale(instance.project_id)


def _on_project(sender, instance: Project, created: bool = False, **kwargs) -> None:
    if not created:
        _mark_stale(instance.pk)  # the risk appetite decides what is above it


def connect() -> None:
    for model in (AssessmentVersion, Evidence, RiskTreatment, QualityGate, ModelArtifact):
        post_save.connect(_on_project_data, sender=model, dispatch_uid=f"summary-{model.__name__}-save")
        post_delete.connect(_on_project_data, sender=model, dispatch_uid=f"summary-{model.__name__}-delete")
    post_save.connect(_on_project, sender=Project, dispatch_uid="summary-project-save")
