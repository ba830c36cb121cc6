"""Backdoor tests from a model's page, on the demo's backdoored teacher and its head-only student."""

import pytest

from riskapp.assessments.models import Evidence
from riskapp.jobs.execute import job_execute
from riskapp.jobs.models import Job, JobStatus
from tests.riskapp.artifacts.test_upload import upload_dataset, uploaded_model, url
from tests.riskapp.evaluations.pages import assert_inline_png, result_page

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
    # The result page names the flagged class, draws the anomaly bars and shows its reversed trigger.
    page = result_page(assessor, team, scan)
    assert "anomaly-bars-figure" in page and "backdoor suspected" in page
    assert 'alt="Reversed trigger of class 0"' in page
    assert "300 optimisation steps" in page and f"(network in {scan.result['precision']})" in page
    trigger = scan.files.get(name="trigger-class-0.png")
    assert_inline_png(assessor, team, scan, trigger)

    strip = run(assessor, team, teacher, kind="strip", dataset=clean.pk, suspect=triggered.pk)
    assert strip.result["suspect"]["roc_auc"] >= 0.8
    assert Evidence.objects.get(kind="strip_flagged_fraction").value > 0
    page = result_page(assessor, team, strip)
    assert "strip-histogram-figure" in page and f"{strip.result['suspect']['flagged']} of" in page

    lineage = run(assessor, team, student, kind="lineage", dataset=clean.pk, teacher=teacher.pk, steps=300)
    assert lineage.result["verdict"] == "inherited" and lineage.result["frozen_layers"]
    assert Evidence.objects.get(kind="teacher_similarity").value > 0.5
    page = result_page(assessor, team, lineage)
    assert "layer-change-figure" in page and "trigger-survival-figure" in page and "backdoor inherited" in page
    assert "head-only student v1" in page and 'alt="Teacher\'s reversed trigger of class 0"' in page


def test_data_scan_page_names_the_poisoned_class_and_shows_flagged_samples(team, client_for, paths, demo):
    assessor = client_for(team.assessor)
    card = {"architecture": "cnn-digits", "num_classes": 10}
    teacher = uploaded_model(assessor, team, paths["teacher"], name="public teacher", role="teacher", **card)
    train = upload_dataset(assessor, team, paths["train"], purpose="training")
    scan = run(assessor, team, teacher, kind="data_scan", dataset=train.pk)
    assert scan.result["suspected_classes"] == [demo["target_class"]]
    page = result_page(assessor, team, scan)
    assert "datascan-bars-figure" in page and "poisoning suspected" in page
    first = scan.result["thumbnails"][0]
    assert f'alt="Flagged sample {first["index"]} of class {demo["target_class"]}"' in page
    assert_inline_png(assessor, team, scan, scan.files.get(name=first["image"]))
