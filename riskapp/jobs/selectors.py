from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from riskapp.jobs.models import Job
from riskapp.projects.models import Project


def jobs_for_project(*, project: Project) -> QuerySet[Job]:
    return project.jobs.select_related("created_by").order_by("-created_at", "-id")


def job_for_project(*, project: Project, job_id: int) -> Job:
    """A job of this project only: another project's job id answers 404."""
    return get_object_or_404(project.jobs.select_related("created_by"), pk=job_id)
