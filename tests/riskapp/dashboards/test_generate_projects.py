"""`manage.py generate_projects`: many realistic projects for load tests, visible in the portfolio."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from riskapp.assessments.models import Evidence
from riskapp.dashboards.models import ProjectRiskSummary
from riskapp.jobs.models import Job, JobStatus
from riskapp.projects.models import Project

pytestmark = pytest.mark.django_db


def test_generates_projects_jobs_evidence_and_fresh_summaries(client, django_user_model):
    call_command("generate_projects", projects=6, jobs=48, user="manager", password="generated-pass-1")
    assert Project.objects.filter(name__startswith="Generated project").count() == 6
    assert Job.objects.filter(status=JobStatus.SUCCEEDED).count() == 48
    assert set(Job.objects.values_list("kind", flat=True)) == {"attack", "robustness_curve", "backdoor_scan", "lineage"}
    assert Evidence.objects.filter(kind="robust_accuracy").exists()
    assert ProjectRiskSummary.objects.filter(stale=False).count() == 6
    signed_in = client.post(reverse("login"), {"username": "manager", "password": "generated-pass-1"})
    assert signed_in.status_code == 302 and signed_in.url == reverse("projects:list")
    page = client.get(reverse("dashboards:portfolio")).content.decode()
    assert "6 projects" in page and "Generated project 0001" in page
    # A second run adds more projects, numbered on.
    call_command("generate_projects", projects=2, jobs=0, user="manager")
    assert Project.objects.filter(name="Generated project 0008").exists()


def test_bad_counts_are_refused():
    with pytest.raises(CommandError, match="--projects"):
        call_command("generate_projects", projects=0, jobs=1)
