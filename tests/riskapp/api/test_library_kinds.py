"""A torchvision student and its teacher uploaded over the API with an image folder: every test kind runs on them.

The models are torchvision's squeezenet1_1 (random initialisation, trained for a few steps on coloured images the
tests make, saved as torchvision saves a state_dict); the dataset is a zip of class folders taken in for the
student over the API. Each kind is started through the jobs API and run in the sandbox like a worker runs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact
from riskapp.jobs.execute import job_execute
from riskapp.jobs.models import Job, JobStatus
from tests import library_models as made
from tests.riskapp.artifacts.test_upload import run_intake

pytestmark = pytest.mark.django_db

ARCH = "torchvision/squeezenet1_1"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("torchvision-kinds")
    return {
        "teacher": made.torchvision_student(folder / "teacher.pth", steps=6),
        "student": made.torchvision_student(folder / "student.pth", steps=10),
        "images": made.image_folder_zip(folder / "images.zip", count_per_class=7),  # membership: 20+ non-members
        "training": made.image_folder_zip(folder / "training.zip", count_per_class=12, seed=1),  # data scan: 12+
    }


def _upload_model(api, team, path: Path, name: str, role: str) -> ModelArtifact:
    response = api.post(
        reverse("api:model_upload", kwargs={"project_id": team.project.pk}),
        {
            "file": SimpleUploadedFile(path.name, path.read_bytes()),
            "name": name,
            "role": role,
            "architecture": ARCH,
            "num_classes": 3,
            "class_names": ", ".join(made.CLASSES),
        },
    )
    assert response.status_code == 201, response.content.decode()[:2000]
    model = run_intake(ModelArtifact.objects.get(pk=response.json()["id"]))
    assert model.status == IntakeStatus.READY, model.status_message
    return model


def _upload_images(api, team, path: Path, model: ModelArtifact, purpose: str) -> DatasetArtifact:
    response = api.post(
        reverse("api:dataset_upload", kwargs={"project_id": team.project.pk}),
        {"file": SimpleUploadedFile(path.name, path.read_bytes()), "purpose": purpose, "for_model_id": model.pk},
    )
    assert response.status_code == 201, response.content.decode()[:2000]
    dataset = run_intake(DatasetArtifact.objects.get(pk=response.json()["id"]))
    assert dataset.status == IntakeStatus.READY, dataset.status_message
    return dataset


def test_every_kind_runs_on_a_torchvision_student_and_an_image_folder_uploaded_over_the_api(team, api_for, files):
    api = api_for(team.assessor)
    teacher = _upload_model(api, team, files["teacher"], "teacher", "teacher")
    student = _upload_model(api, team, files["student"], "student", "student")
    assert student.architecture == ARCH and student.intake["preprocessing"]["source"] == "torchvision"
    images = _upload_images(api, team, files["images"], student, "evaluation")
    training = _upload_images(api, team, files["training"], student, "training")
    assert images.intake["class_names"] == list(made.CLASSES) and images.intake["samples"] == 21

    both = {"model_id": student.pk, "dataset_id": images.pk}
    runs = {
        "attack": {**both, "attack": "pgd_linf", "eps": 0.03, "steps": 3},
        "attack_suite": {**both, "eps": 0.03, "steps": 3, "sample_limit": 4},  # Square: 1,000 queries a sample
        "robustness_curve": {**both, "eps": [0.01, 0.03], "steps": 3},
        "transfer_attack": {**both, "teacher_id": teacher.pk, "attack": "pgd_linf", "eps": 0.03, "steps": 3},
        "backdoor_scan": {**both, "steps": 20},
        "strip": {**both, "steps": 4},
        "data_scan": {"model_id": student.pk, "dataset_id": training.pk},
        "lineage": {**both, "teacher_id": teacher.pk, "steps": 20},
        "hardening": {**both, "method": "finetune", "evaluation_id": images.pk, "epochs": 1},
        "membership_inference": {**both, "members_id": training.pk, "shadow_models": 2, "steps": 1},
        "extraction": {**both, "query_id": training.pk, "budgets": [6], "steps": 5},
    }
    base = f"/api/v1/projects/{team.project.pk}"
    for kind, parameters in runs.items():
        created = api.post(f"{base}/jobs/create/", {"kind": kind, "parameters": parameters}, format="json")
        assert created.status_code == 201, (kind, created.content.decode()[:2000])
        job = Job.objects.get(pk=created.json()["id"])
        assert job_execute(job_id=job.pk) == JobStatus.SUCCEEDED, (kind, Job.objects.get(pk=job.pk).error)
        job.refresh_from_db()
        assert job.result, kind
        assert api.get(f"{base}/jobs/{job.pk}/").json()["status"] == "succeeded", kind
        assert api.get(f"{base}/jobs/{job.pk}/result/").json()["result"] == job.result, kind
