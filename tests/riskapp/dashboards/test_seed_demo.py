"""`manage.py seed_demo`: the demo project with its models, data, assessment and queued tests, created once:
every model validated, every planned test queued as background work, the triggered test set labelled as such,
and a timm teacher / student pair beside the digits models."""

import pytest
from django.core.management import call_command

from riskapp.artifacts.models import DatasetArtifact, DatasetPurpose, IntakeStatus, ModelArtifact
from riskapp.assessments.bank import load_bank
from riskapp.assessments.selectors import plan_checklist
from riskapp.dashboards.demo import DEMO_NAME
from riskapp.jobs.models import Job, JobPriority, JobStatus
from riskapp.projects.models import Project

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_the_whole_story_once(
    team,
    demo_folder,
    capsys,
    sent_jobs,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", owner="owner", from_dir=demo_folder)
    project = Project.objects.get(name=DEMO_NAME)
    assert set(ModelArtifact.objects.filter(project=project).values_list("status", flat=True)) == {IntakeStatus.READY}
    assert ModelArtifact.objects.filter(project=project).count() == 5
    head = ModelArtifact.objects.get(project=project, name="Student (head only)")
    assert head.parent.name == "Public digits teacher"
    assert DatasetArtifact.objects.filter(project=project, status=IntakeStatus.READY).count() == 5
    version = project.assessment_versions.get()
    assert version.answers["teacher.source"] == "public_hub" and version.answers["fine_tuning.layers"] == "head_only"
    queued = Job.objects.filter(project=project, status=JobStatus.QUEUED)
    assert {
        "validation",
        "backdoor_scan",
        "lineage",
        "strip",
        "data_scan",
        "attack",
        "attack_suite",
        "transfer_attack",
        "robustness_curve",
    } <= set(queued.values_list("kind", flat=True))
    assert {job_id for job_id, _ in sent_jobs} >= set(queued.values_list("pk", flat=True))

    # The triggered test set says what it is, and feeds STRIP as its suspect inputs.
    triggered = DatasetArtifact.objects.get(project=project, purpose=DatasetPurpose.TRIGGERED)
    assert "triggered" in triggered.name and triggered.get_purpose_display().startswith("Triggered inputs")
    strip = Job.objects.get(kind="strip", parameters__suspect_path=triggered.job_file)
    assert strip.parameters["model_id"] == ModelArtifact.objects.get(name="Public digits teacher").pk
    # A timm teacher and its student, with timm's own normalisation at the demo's 32×32: do attacks transfer?
    student = ModelArtifact.objects.get(architecture="timm/resnet10t", role="student")
    assert student.parent.architecture == "timm/resnet10t" and student.parent.role == "teacher"
    assert student.intake["preprocessing"]["input_size"] == [3, 32, 32]
    assert student.intake["preprocessing"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    transfer = Job.objects.get(kind="transfer_attack", parameters__model_id=student.pk)
    assert transfer.parameters["teacher_id"] == student.parent_id
    # The membership test on the all-layers student takes the data that student was fine-tuned on as members.
    full = ModelArtifact.objects.get(project=project, name="Student (all layers)")
    membership = Job.objects.get(kind="membership_inference", project=project)
    fine_tuning = DatasetArtifact.objects.get(project=project, name="students' fine-tuning set (clean)")
    assert membership.parameters["model_id"] == full.pk
    assert membership.parameters["members_path"] == fine_tuning.job_file and fine_tuning.intake["samples"] == 1193

    call_command("seed_demo", owner="owner", from_dir=demo_folder)
    assert "exists already" in capsys.readouterr().out
    assert Project.objects.filter(name=DEMO_NAME).count() == 1 and ModelArtifact.objects.count() == 5


def test_the_demo_validates_every_model_and_queues_every_planned_test_as_background_work(
    team, demo_folder, sent_jobs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", owner="owner", from_dir=demo_folder)
    project = Project.objects.get(name=DEMO_NAME)
    queued = Job.objects.filter(project=project, status=JobStatus.QUEUED)
    validated = {job.parameters["model_id"] for job in queued.filter(kind="validation")}
    assert validated == set(ModelArtifact.objects.filter(project=project).values_list("pk", flat=True))
    answers = project.assessment_versions.get().answers
    checklist = plan_checklist(project=project, bank=load_bank(), answers=answers)
    assert checklist and [item.planned.kind for item in checklist if item.state == "not run"] == []
    # All of it behind a user's own jobs; the uploads' intake ran at normal priority.
    assert set(queued.values_list("priority", flat=True)) == {JobPriority.BACKGROUND}
    intakes = Job.objects.filter(project=project, kind="intake")
    assert intakes.count() == 10 and set(intakes.values_list("priority", flat=True)) == {JobPriority.NORMAL}
