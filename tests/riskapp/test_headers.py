"""The headers that come from maintained libraries: django-csp sends riskapp's exact policy, and django-htmx's
request.htmx tells the progress poll (htmx) from a plain page load."""

import pytest
from django.urls import reverse

from riskapp.jobs import services
from riskapp.jobs.models import Job, JobStatus

POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def test_every_response_carries_exactly_riskapps_content_security_policy(client):
    response = client.get("/accounts/login/")
    directives = (part.split() for part in response["Content-Security-Policy"].split(";"))
    assert {name: sources for name, *sources in directives} == POLICY
    assert "Content-Security-Policy-Report-Only" not in response


@pytest.mark.django_db
@pytest.mark.parametrize(("htmx", "refresh"), [(True, "true"), (False, None)])
def test_the_progress_poll_of_a_finished_job_reloads_the_page_only_for_htmx(team, client_for, htmx, refresh):
    job = services.job_create(user=team.assessor, project=team.project, kind="environment_check", parameters={})
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    url = reverse("projects:jobs:progress", args=[team.project.pk, job.pk])
    response = client_for(team.viewer).get(url, headers={"HX-Request": "true"} if htmx else {})
    assert response.status_code == 200 and response.get("HX-Refresh") == refresh
