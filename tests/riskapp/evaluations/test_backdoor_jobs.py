"""Backdoor tests from a model's page, on the demo's backdoored teacher and its head-only student."""

import pytest

from riskapp.assessments.models import Evidence
from riskapp.jobs.execute import job_execute
from riskapp.jobs.models import Job, JobStatus
from tests.riskapp.artifacts.test_upload import upload_dataset, uploaded_model, url

pytestmark = pytest.mark.django_db


def run(client, team, model, **fields):
    client.post(url("model_evaluate", team, model_id=model.pk), {"sample_limit": 300, **fields})
    job = Job.objects.filter(kind=fields["kind"]).latest("id")
    assert job_execute(job_id=job.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).error
    job.refresh_from_db()
    return job


def test_backdoor_scan_strip_and_lineage_find_the_inherited_trigger(team, client_for, paths):
    assessor = client_for(team.assessor)
    card = {"architecture": "cnn-digits", "num_classes": 10}
    teacher = uploaded_model(assessor, team, paths["teacher"], name="public teacher", role="teacher", **card)
    student = uploaded_model(
        assessor, team, paths["student_head"], name="head-only student", role="student", parent=teacher.pk, **card
    )
    clean = upload_dataset(assessor, team, paths["test"])
    triggered = upload_dataset(assessor, team, paths["test_triggered"])

    scan = run(assessor, team, teacher, kind="backdoor_scan", dataset=clean.pk, steps=300)
    assert scan.result["flagged_classes"] == [0]
    assert Evidence.objects.get(kind="teacher_backdoor_flagged").value is True  # a teacher's scan

    strip = run(assessor, team, teacher, kind="strip", dataset=clean.pk, suspect=triggered.pk)
    assert strip.result["suspect"]["roc_auc"] >= 0.8
    assert Evidence.objects.get(kind="strip_flagged_fraction").value > 0

    lineage = run(assessor, team, student, kind="lineage", dataset=clean.pk, teacher=teacher.pk, steps=300)
    assert lineage.result["verdict"] == "inherited" and lineage.result["frozen_layers"]
    assert Evidence.objects.get(kind="teacher_similarity").value > 0.5
