"""Thin Celery adapters: take a job id, call a service."""

from celery import shared_task

from riskapp.jobs.execute import job_execute
from riskapp.jobs.services import jobs_reconcile


@shared_task(name="riskapp.jobs.tasks.run_job")
def run_job(job_id: int) -> str | None:
    return job_execute(job_id=job_id)


@shared_task(name="riskapp.jobs.tasks.reconcile_jobs")
def reconcile_jobs() -> dict[str, int]:
    return jobs_reconcile().as_dict()
