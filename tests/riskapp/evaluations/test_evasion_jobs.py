"""Security tests started from a model's page run in the sandbox and re-score the register with evidence."""

import pytest
from django.urls import reverse

from riskapp.assessments.models import Evidence
from riskapp.evaluations.services import evidence_from_result
from riskapp.jobs.execute import job_execute
from riskapp.jobs.models import Job, JobStatus
from tests.riskapp.artifacts.test_upload import upload_dataset, uploaded_model, url
from tests.riskapp.evaluations.pages import assert_inline_png, result_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready(team, client_for, trained_cnn):
    assessor = client_for(team.assessor)
    model = uploaded_model(
        assessor,
        team,
        trained_cnn["safetensors"],
        name="student",
        role="student",
        architecture="cnn-digits",
        num_classes=10,
    )
    dataset = upload_dataset(assessor, team, trained_cnn["test"])
    return assessor, model, dataset


def evaluate(client, team, model, **fields):
    return client.post(url("model_evaluate", team, model_id=model.pk), fields)


def test_a_pgd_attack_from_the_model_page_lowers_accuracy_and_becomes_evidence(team, ready):
    assessor, model, dataset = ready
    response = evaluate(
        assessor,
        team,
        model,
        kind="attack",
        dataset=dataset.pk,
        attack="pgd_linf",
        eps="0.1",
        steps=10,
        sample_limit=100,
    )
    job = Job.objects.get(kind="attack")
    assert response.url == reverse("projects:jobs:detail", args=[team.project.pk, job.pk])
    assert job_execute(job_id=job.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).error
    job.refresh_from_db()
    attack = job.result["attacks"][0]
    assert attack["attack"] == "pgd_linf" and attack["robust_accuracy"] < job.result["clean_accuracy"]
    evidence = Evidence.objects.get(project=team.project, kind="robust_accuracy")
    assert evidence.value == attack["robust_accuracy"] and evidence.job == job
    page = assessor.get(url("model", team, model_id=model.pk)).content.decode()
    assert "Evasion attack" in page and job.result["verdict"] in page
    # The result page: the bar chart, the numbers and example images the job stored.
    page = result_page(assessor, team, job)
    assert "attack-bars-figure" in page and f"{attack['fooled']} / {attack['attacked']}" in page
    # The engine's precision "auto": bfloat16 gradients where this CPU computes them natively, said on the page.
    said = "PGD's gradients in bfloat16, every success checked in float32"
    assert attack["precision"] in ("float32", "bfloat16") and (said in page) is (attack["precision"] == "bfloat16")
    example = job.files.get(name=attack["examples"][0])
    assert reverse("projects:jobs:image", args=[team.project.pk, job.pk, example.pk]) in page
    assert_inline_png(assessor, team, job, example)


def test_a_transfer_attack_from_the_teacher_reports_the_inherited_vulnerability(team, ready, trained_cnn):
    assessor, student, dataset = ready
    teacher = uploaded_model(
        assessor, team, trained_cnn["pt"], name="teacher", role="teacher", architecture="cnn-digits", num_classes=10
    )
    evaluate(
        assessor,
        team,
        student,
        kind="transfer_attack",
        dataset=dataset.pk,
        teacher=teacher.pk,
        attack="pgd_linf",
        eps="0.1",
        steps=10,
        sample_limit=100,
    )
    job = Job.objects.get(kind="transfer_attack")
    assert job_execute(job_id=job.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).error
    job.refresh_from_db()
    # The same weights as teacher and student: what fools the teacher fools the student.
    assert job.result["transfer_success_rate"] > 0.3
    assert Evidence.objects.get(kind="transfer_success_rate").value == job.result["transfer_success_rate"]


def test_a_result_flagged_not_trustworthy_gives_no_robustness_evidence():
    result = {"trustworthy": False, "attacks": [{"attack": "pgd_linf", "robust_accuracy": 0.9}]}
    assert evidence_from_result("attack", result) == {}
    trusted = {
        "trustworthy": True,
        "attacks": [
            {"attack": "pgd_linf", "robust_accuracy": 0.4},
            {"attack": "fgsm", "robust_accuracy": 0.6},
            {"attack": "square", "robust_accuracy": 0.5},
            {"attack": "deepfool", "robust_accuracy": 0.0},
        ],
    }
    assert evidence_from_result("attack_suite", trusted) == {"robust_accuracy": 0.4, "query_robust_accuracy": 0.5}


def test_a_curve_gives_robust_accuracy_at_the_projects_budget():
    curve = {
        "trustworthy": True,
        "curve": [{"eps": 0.02, "robust_accuracy": 0.9}, {"eps": 0.05, "robust_accuracy": 0.6}],
    }
    assert evidence_from_result("robustness_curve", curve, project_eps=0.05) == {"robust_accuracy": 0.6}
    assert evidence_from_result("robustness_curve", curve, project_eps=0.03) == {"robust_accuracy": 0.9}
    assert evidence_from_result("robustness_curve", curve, project_eps=0.01) == {}  # the grid starts above it
    assert evidence_from_result("robustness_curve", curve | {"trustworthy": False}, project_eps=0.05) == {}
