"""The project overview a manager opens first: the verdict and next step lead, the jobs table names the model and
dataset of each job (in a fixed number of queries), and the worker checks wait in a collapsed section below."""

import hashlib

from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from riskapp.artifacts.models import DatasetArtifact, ModelArtifact
from riskapp.jobs.models import Job, JobStatus


def make_model(project, name: str) -> ModelArtifact:
    return ModelArtifact.objects.create(
        project=project,
        name=name,
        original_name=f"{name}.safetensors",
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        size=3,
        file=ContentFile(b"abc", name="m.upload"),
    )


def make_dataset(project, name: str) -> DatasetArtifact:
    return DatasetArtifact.objects.create(
        project=project,
        name=name,
        original_name=f"{name}.npz",
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        size=3,
        file=ContentFile(b"abc", name="d.upload"),
    )


def test_overview_leads_with_the_verdict_and_keeps_worker_checks_in_a_collapsed_section(team, client_for):
    html = client_for(team.assessor).get(reverse("projects:detail", args=[team.project.pk])).content.decode()
    verdict, jobs, workers = html.index("Ship verdict"), html.index('id="jobs-table"'), html.index('id="workers"')
    assert verdict < jobs < workers
    assert html.index("Run environment check") > workers
    assert '<details class="workers" id="workers">' in html  # collapsed: no `open`


def test_jobs_table_names_the_model_and_dataset_of_each_job(team, client_for):
    model, dataset = make_model(team.project, "Student"), make_dataset(team.project, "Digits test set")
    Job.objects.create(
        project=team.project,
        kind="attack",
        queue="cpu",
        status=JobStatus.QUEUED,
        parameters={"model_id": model.pk, "dataset_id": dataset.pk},
    )
    intake = Job.objects.create(project=team.project, kind="intake", queue="interactive", status=JobStatus.SUCCEEDED)
    teacher = make_model(team.project, "Teacher")
    teacher.intake_job = intake
    teacher.save(update_fields=["intake_job"])

    html = client_for(team.viewer).get(reverse("projects:jobs:list", args=[team.project.pk])).content.decode()
    rows = html.split("<tr>")[2:]
    assert "Intake" in rows[0] and "Teacher v1" in rows[0]
    assert "Student v1" in rows[1] and "Digits test set" in rows[1]


def test_jobs_table_queries_do_not_grow_with_jobs(team, client_for):
    client = client_for(team.viewer)
    url = reverse("projects:jobs:list", args=[team.project.pk])

    def add_jobs(start: int, count: int) -> None:
        for index in range(start, start + count):
            model, dataset = make_model(team.project, f"m{index}"), make_dataset(team.project, f"d{index}")
            Job.objects.create(
                project=team.project,
                kind="attack",
                queue="cpu",
                status=JobStatus.QUEUED,
                parameters={"model_id": model.pk, "dataset_id": dataset.pk},
            )

    add_jobs(0, 1)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    add_jobs(1, 10)
    with CaptureQueriesContext(connection) as eleven:
        assert "m10 v1" in client.get(url).content.decode()
    assert len(eleven) == len(one), [q["sql"] for q in eleven.captured_queries]
