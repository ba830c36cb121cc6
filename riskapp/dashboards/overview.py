"""The project overview's content, gathered from the apps that own it. Projects import none of these apps, so
DashboardsConfig.ready() adds it to the page through riskapp.projects.overview."""

from typing import Any

from riskapp.artifacts.models import IntakeStatus
from riskapp.artifacts.selectors import jobs_with_subjects
from riskapp.assessments.overview import project_risk_summary
from riskapp.gates.selectors import project_verdict
from riskapp.jobs.kinds import kinds_for_display
from riskapp.jobs.selectors import jobs_for_project
from riskapp.projects.models import Project


def project_summary(*, project: Project) -> dict[str, Any]:
    """The overview's figures: models (and how many are ready), datasets and findings, then the assessment's."""
    return {
        "models": project.models.count(),
        "models_ready": project.models.filter(status=IntakeStatus.READY).count(),
        "datasets": project.datasets.count(),
        "findings": project.findings.count(),
    } | project_risk_summary(project)


def project_overview(project: Project) -> dict[str, Any]:
    """The overview page's context: the figures, the ship verdict, the latest 50 jobs with their models and
    datasets, and the job kinds a member can start to check the workers."""
    return {
        "summary": project_summary(project=project),
        "verdict": project_verdict(project=project),
        "jobs": jobs_with_subjects(project=project, jobs=jobs_for_project(project=project)[:50]),
        "job_kinds": kinds_for_display(),
    }
