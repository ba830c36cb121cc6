"""Models and datasets over the API: uploads stream through the same intake as the browser's (size limit,
SHA-256, server-made names, an intake job), and lists never show another project's files."""

import hashlib

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from riskapp.artifacts.models import DatasetArtifact, ModelArtifact
from riskapp.jobs.models import Job
from riskapp.projects.services import project_create

pytestmark = pytest.mark.django_db

# A safetensors file's first bytes (a header length, then "{"), which the upload pre-check lets through; the rest is
# not safetensors: the intake job decides.
WEIGHTS = (1024).to_bytes(8, "little") + b"{not really safetensors, the intake job decides" * 20


def base(team) -> str:
    return f"/api/v1/projects/{team.project.pk}"


def upload_model(api, team, content=WEIGHTS, **card):
    data = {"file": SimpleUploadedFile("teacher.safetensors", content), "name": "teacher", **card}
    return api.post(f"{base(team)}/models/upload/", data, format="multipart")


def test_model_upload_creates_the_artifact_and_queues_its_intake_job(
    team, api_for, sent_jobs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload_model(
            api_for(team.assessor),
            team,
            architecture="cnn-digits",
            num_classes=10,
            role="teacher",
            class_names="zero, one",
            input_shape="1,8,8",
            preprocessing='{"scale": 255}',
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    model = ModelArtifact.objects.get(pk=body["id"])
    assert (model.project, model.name, model.role, model.status) == (team.project, "teacher", "teacher", "checking")
    assert model.sha256 == hashlib.sha256(WEIGHTS).hexdigest() == body["sha256"] and model.size == len(WEIGHTS)
    assert model.original_name == "teacher.safetensors" and model.file.name.endswith(".upload")  # a server-made name
    assert (model.class_names, model.input_shape, model.preprocessing) == (["zero", "one"], [1, 8, 8], {"scale": 255})
    intake = Job.objects.get(pk=body["intake_job_id"])
    assert intake.kind == "intake" and intake.parameters["path"] == model.file.name
    assert intake.parameters["arch"] == "cnn-digits" and intake.created_by == team.assessor
    assert sent_jobs == [(intake.pk, "interactive")]


def test_the_same_file_twice_is_a_409_naming_the_existing_model(team, api_for):
    api = api_for(team.assessor)
    first = upload_model(api, team).json()
    again = upload_model(api, team, name="copy")
    assert again.status_code == 409
    assert again.json() == {
        "detail": "This file was uploaded already, as “teacher” (same SHA-256).",
        "existing_id": first["id"],
    }
    assert ModelArtifact.objects.count() == 1


def test_a_browser_session_upload_is_limited_too(team, settings):
    """Session authentication's CSRF check reads the body: the limit must already be in place."""
    from django.test import Client

    settings.UPLOAD_MAX_BYTES = 1024
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(team.assessor)
    csrf = browser.get("/accounts/profile/").cookies["csrftoken"].value
    response = browser.post(
        f"{base(team)}/models/upload/",
        {"file": SimpleUploadedFile("big.onnx", b"x" * 5000), "name": "big"},
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert response.status_code == 413 and not ModelArtifact.objects.exists()


def test_dataset_upload_creates_the_dataset_and_queues_its_intake(
    team, api_for, sent_jobs, django_capture_on_commit_callbacks
):
    content = b"PK\x03\x04 fake npz" * 10  # a zip's first bytes, as an .npz's are
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(team.owner).post(
            f"{base(team)}/datasets/upload/",
            {"file": SimpleUploadedFile("digits.npz", content), "purpose": "training"},
            format="multipart",
        )
    assert response.status_code == 201, response.json()
    dataset = DatasetArtifact.objects.get(pk=response.json()["id"])
    assert (dataset.name, dataset.purpose, dataset.sha256) == (
        "digits.npz",
        "training",
        hashlib.sha256(content).hexdigest(),
    )
    assert sent_jobs == [(dataset.intake_job_id, "interactive")]
    bad = api_for(team.owner).post(
        f"{base(team)}/datasets/upload/", {"file": SimpleUploadedFile("d.npz", b"1")}, format="multipart"
    )
    assert bad.status_code == 400 and bad.json()["purpose"] == ["This field is required."]


def test_model_and_dataset_lists_never_show_another_projects_files(team, api_for, objects):
    other = project_create(user=team.viewer, name="Viewer's own", risk_appetite="low")
    ModelArtifact.objects.create(project=other, name="secret", original_name="s", sha256="d" * 64, size=1, file="s")
    DatasetArtifact.objects.create(project=other, name="secret", original_name="s", sha256="e" * 64, size=1, file="s")
    api = api_for(team.viewer)
    models = api.get(f"{base(team)}/models/").json()
    datasets = api.get(f"{base(team)}/datasets/").json()
    assert [m["name"] for m in models["results"]] == ["teacher"] and models["count"] == 1
    assert [d["name"] for d in datasets["results"]] == ["digits"] and datasets["count"] == 1
    foreign = ModelArtifact.objects.get(project=other)
    assert api.get(f"{base(team)}/models/{foreign.pk}/").status_code == 404


def test_model_detail_shows_the_card_and_the_intake_scan(team, api_for, objects):
    model = objects["model"]
    model.scan = {"format": "safetensors", "accepted": True}
    model.save()
    body = api_for(team.viewer).get(f"{base(team)}/models/{model.pk}/").json()
    assert body["name"] == "teacher" and body["scan"] == {"format": "safetensors", "accepted": True}
    dataset = api_for(team.viewer).get(f"{base(team)}/datasets/{objects['dataset'].pk}/").json()
    assert dataset["name"] == "digits" and dataset["status"] == "checking"


def test_a_hardened_versions_provenance_is_shown_and_cannot_be_uploaded(team, api_for, objects):
    provenance = {"hardening": "adversarial", "epochs": 1, "job_id": objects["job"].pk, "source_model_id": 1}
    ModelArtifact.objects.filter(pk=objects["model"].pk).update(provenance=provenance)
    api = api_for(team.viewer)
    assert api.get(f"{base(team)}/models/{objects['model'].pk}/").json()["provenance"] == provenance
    assert api.get(f"{base(team)}/models/").json()["results"][0]["provenance"] == provenance
    forged = upload_model(api_for(team.assessor), team, name="forged", provenance='{"hardening": "trades"}')
    assert forged.status_code == 201, forged.json()
    assert forged.json()["provenance"] == {} and ModelArtifact.objects.get(name="forged").provenance == {}


def test_uploads_are_stored_outside_any_web_root(team, api_for):
    body = upload_model(api_for(team.assessor), team).json()
    path = ModelArtifact.objects.get(pk=body["id"]).file.path
    assert path.startswith(str(settings.DATA_DIR)) and "file" not in body  # no URL to the stored file
