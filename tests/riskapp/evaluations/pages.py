"""Helpers for reading an evaluation's result page and its images."""

from django.urls import reverse

from riskapp.jobs.views import PNG_SIGNATURE


def result_page(client, team, job) -> str:
    response = client.get(url_job(team, job))
    assert response.status_code == 200
    return response.content.decode()


def url_job(team, job) -> str:
    return reverse("projects:jobs:detail", args=[team.project.pk, job.pk])


def assert_inline_png(client, team, job, job_file) -> None:
    response = client.get(reverse("projects:jobs:image", args=[team.project.pk, job.pk, job_file.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == "inline" and response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content).startswith(PNG_SIGNATURE)
