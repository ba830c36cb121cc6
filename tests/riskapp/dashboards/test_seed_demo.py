"""`manage.py seed_demo`: the demo project with its models, data, assessment and queued tests, created once."""

from pathlib import Path

import pytest
from django.core.management import call_command

from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact
from riskapp.dashboards.demo import DEMO_NAME
from riskapp.jobs.models import Job, JobStatus
from riskapp.projects.models import Project

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_the_whole_story_once(
    team,
    paths,
    capsys,
    sent_jobs,
    django_capture_on_commit_callbacks,
):
    folder = Path(paths["teacher"]).parent
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", owner="owner", from_dir=folder)
    project = Project.objects.get(name=DEMO_NAME)
    assert set(ModelArtifact.objects.filter(project=project).values_list("status", flat=True)) == {IntakeStatus.READY}
    assert ModelArtifact.objects.filter(project=project).count() == 3
    head = ModelArtifact.objects.get(project=project, name="Student (head only)")
    assert head.parent.name == "Public digits teacher"
    assert DatasetArtifact.objects.filter(project=project, status=IntakeStatus.READY).count() == 3
    version = project.assessment_versions.get()
    assert version.answers["teacher.source"] == "public_hub" and version.answers["fine_tuning.layers"] == "head_only"
    queued = Job.objects.filter(project=project, status=JobStatus.QUEUED)
    assert {
        "backdoor_scan",
        "lineage",
        "strip",
        "data_scan",
        "attack_suite",
        "transfer_attack",
        "robustness_curve",
    } <= set(queued.values_list("kind", flat=True))
    assert {job_id for job_id, _ in sent_jobs} >= set(queued.values_list("pk", flat=True))

    call_command("seed_demo", owner="owner", from_dir=folder)
    assert "exists already" in capsys.readouterr().out
    assert Project.objects.filter(name=DEMO_NAME).count() == 1 and ModelArtifact.objects.count() == 3
