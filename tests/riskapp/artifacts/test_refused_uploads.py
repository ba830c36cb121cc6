"""Refused uploads: refused at the request when the name or first bytes already tell (the browser's form and the
API alike, nothing stored or queued); deleted by an assessor or owner once the intake refused them (an audit
event, the stored file gone); and never offered in choices, charts or the Gates page's default model."""

import os

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from attacks.scanners.findings import finding
from riskapp.accounts.services import api_token_create
from riskapp.artifacts.forms import ModelCardForm, ValidationForm
from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact
from riskapp.artifacts.services import intake_finished
from riskapp.audit.models import AuditEvent
from riskapp.dashboards.risk import model_summaries
from riskapp.evaluations.forms import EvaluationForm
from riskapp.jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db

NOTES = b"These are my notes, not a model.\n"
SAFETENSORS_HEAD = (16).to_bytes(8, "little") + b'{"w": {"dtype": "F32"}}'
CARD = {"name": "notes", "version": "1", "role": "other", "input_min": 0, "input_max": 1}


def page(team, name, **kwargs):
    return reverse(f"projects:artifacts:{name}", kwargs={"project_id": team.project.pk, **kwargs})


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name='test')[1]}")
    return client


def api_url(team, rest):
    return f"/api/v1/projects/{team.project.pk}/{rest}"


def stored_files() -> list[str]:
    root = default_storage.location
    return sorted(os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names)


def stored(cls, team, name, status, **fields):
    """A model or dataset row with a stored file, as the intake left it (no intake job runs here)."""
    digit = str(cls.objects.count() + (1 if cls is ModelArtifact else 5))
    return cls.objects.create(
        project=team.project,
        name=name,
        original_name=f"{name}.upload",
        sha256=digit * 64,
        size=3,
        status=status,
        status_message="The file was refused (unknown)." if status == IntakeStatus.REJECTED else "",
        file=ContentFile(b"abc", name=f"{name}.upload"),
        **fields,
    )


@pytest.fixture
def nothing_kept(team, sent_jobs):
    """Asserts, after the test's requests, that no row, job, enqueued message, upload audit event or stored file
    was made."""
    before = stored_files(), os.listdir(settings.FILE_UPLOAD_TEMP_DIR)
    yield
    assert not ModelArtifact.objects.exists() and not DatasetArtifact.objects.exists()
    assert not Job.objects.exists() and sent_jobs == []
    assert not AuditEvent.objects.filter(action__regex=r"^(model|dataset)\.").exists()
    assert (stored_files(), os.listdir(settings.FILE_UPLOAD_TEMP_DIR)) == before


# --- refused at the request ------------------------------------------------------------------------------------


def test_a_txt_uploaded_as_a_model_in_the_browser_is_a_form_error_and_nothing_is_kept(team, client_for, nothing_kept):
    response = client_for(team.assessor).post(
        page(team, "model_upload"), {"upload": SimpleUploadedFile("notes.txt", NOTES), **CARD}
    )
    assert response.status_code == 400
    (error,) = response.context["model_form"].errors["upload"]
    assert error.startswith("“notes.txt” cannot be taken in as a model: its name (.txt) says it is a text")
    assert "safetensors weights" in error
    assert "cannot be taken in as a model" in response.content.decode()


def test_a_dataset_refusal_in_the_browser_talks_about_dataset_formats(team, client_for, nothing_kept):
    response = client_for(team.assessor).post(
        page(team, "dataset_upload"),
        {"upload": SimpleUploadedFile("weights.bin", SAFETENSORS_HEAD), "name": "w", "purpose": "evaluation"},
    )
    assert response.status_code == 400
    (error,) = response.context["dataset_form"].errors["upload"]
    assert "first bytes are those of a model (safetensors or ONNX); upload it as a model instead" in error
    assert "Upload a dataset as an .npz with arrays x and y" in error and "state_dict" not in error


def test_the_api_refuses_a_txt_model_with_a_400_and_the_browsers_message(team, client_for, nothing_kept):
    response = api(team.assessor).post(
        api_url(team, "models/upload/"), {"file": SimpleUploadedFile("notes.txt", NOTES)}, format="multipart"
    )
    assert response.status_code == 400
    browser = client_for(team.assessor).post(
        page(team, "model_upload"), {"upload": SimpleUploadedFile("notes.txt", NOTES), **CARD}
    )
    assert response.json() == {"file": browser.context["model_form"].errors["upload"]}


def test_the_api_refuses_a_checkpoint_uploaded_as_a_dataset_with_dataset_advice(team, nothing_kept):
    response = api(team.owner).post(
        api_url(team, "datasets/upload/"),
        {"file": SimpleUploadedFile("student.pt", b"PK\x03\x04rest"), "purpose": "evaluation"},
        format="multipart",
    )
    assert response.status_code == 400
    (error,) = response.json()["file"]
    assert error.startswith("“student.pt” cannot be taken in as a dataset: .pt files are models")
    assert "an .npz with arrays x and y" in error


@pytest.mark.parametrize("code", ["pickle", "unknown_format"])
def test_an_intake_refusal_of_a_dataset_talks_about_dataset_formats(team, code):
    """A dataset the pre-check let through (a pickle goes on to the scan) and the intake refused: the scan's
    advice on saving model weights is replaced by the dataset formats; a model keeps it."""
    reason = finding(code).as_dict()
    for cls in (DatasetArtifact, ModelArtifact):
        job = Job.objects.create(
            project=team.project,
            kind="intake",
            status=JobStatus.FAILED,
            error="The file was refused.",
            result={"accepted": False, "scan": {"format": "pickle", "reasons": [reason]}},
        )
        stored(cls, team, f"upload {cls.__name__}", IntakeStatus.CHECKING, intake_job=job)
        intake_finished(job=job)
    dataset, model = DatasetArtifact.objects.get(), ModelArtifact.objects.get()
    assert dataset.status == model.status == IntakeStatus.REJECTED
    assert "Upload a dataset as an .npz with arrays x and y" in dataset.status_message
    assert "state_dict" not in dataset.status_message and "safetensors" not in dataset.status_message
    assert model.status_message == reason["message"] and "safetensors" in model.status_message


def test_a_file_whose_first_bytes_pass_still_goes_to_the_intake_job(team, client_for, sent_jobs):
    response = client_for(team.assessor).post(
        page(team, "model_upload"), {"upload": SimpleUploadedFile("w.safetensors", SAFETENSORS_HEAD), **CARD}
    )
    assert response.status_code == 302
    model = ModelArtifact.objects.get()
    assert model.status == IntakeStatus.CHECKING and model.intake_job.kind == "intake"


# --- deleting a refused upload ---------------------------------------------------------------------------------


def test_an_assessor_deletes_a_refused_model_with_an_audit_event_and_its_file_gone(
    team, client_for, django_capture_on_commit_callbacks
):
    model = stored(ModelArtifact, team, "notes", IntakeStatus.REJECTED)
    name, pk = model.file.name, model.pk
    assert default_storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(team.assessor).post(page(team, "model_delete", model_id=pk))
    assert response.status_code == 302 and response.url == page(team, "inventory")
    assert not ModelArtifact.objects.filter(pk=pk).exists() and not default_storage.exists(name)
    event = AuditEvent.objects.get(action="model.deleted")
    assert (event.actor, event.project_id, event.target_id) == (team.assessor, team.project.pk, str(pk))
    assert event.before["sha256"] == model.sha256 and event.before["status_message"] == model.status_message


def test_an_owner_deletes_a_refused_dataset_from_its_page(team, client_for, django_capture_on_commit_callbacks):
    dataset = stored(DatasetArtifact, team, "broken", IntakeStatus.REJECTED)
    owner = client_for(team.owner)
    assert "Delete this refused upload" in owner.get(page(team, "dataset", dataset_id=dataset.pk)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(page(team, "dataset_delete", dataset_id=dataset.pk), follow=True)
    assert "“broken” and its stored file were deleted." in response.content.decode()
    assert not DatasetArtifact.objects.exists() and not default_storage.exists(dataset.file.name)
    assert AuditEvent.objects.filter(action="dataset.deleted", target_id=str(dataset.pk)).exists()


@pytest.mark.parametrize("status", [IntakeStatus.READY, IntakeStatus.CHECKING])
def test_a_ready_or_checking_upload_cannot_be_deleted(team, client_for, status):
    model = stored(ModelArtifact, team, "student", status)
    response = client_for(team.owner).post(page(team, "model_delete", model_id=model.pk), follow=True)
    assert "Only an upload the intake check refused can be deleted" in response.content.decode()
    assert ModelArtifact.objects.filter(pk=model.pk).exists() and default_storage.exists(model.file.name)
    assert not AuditEvent.objects.filter(action="model.deleted").exists()


@pytest.mark.parametrize(("who", "status"), [("reviewer", 403), ("viewer", 403), ("outsider", 404)])
def test_reviewers_viewers_and_outsiders_cannot_delete(team, client_for, who, status):
    model = stored(ModelArtifact, team, "notes", IntakeStatus.REJECTED)
    client = client_for(getattr(team, who))
    assert client.post(page(team, "model_delete", model_id=model.pk)).status_code == status
    assert ModelArtifact.objects.filter(pk=model.pk).exists()


def test_only_editors_see_the_delete_button_and_only_on_refused_uploads(team, client_for):
    stored(ModelArtifact, team, "refused one", IntakeStatus.REJECTED)
    stored(ModelArtifact, team, "ready one", IntakeStatus.READY)
    assessor_page = client_for(team.assessor).get(page(team, "inventory")).content.decode()
    assert 'aria-label="Delete refused one"' in assessor_page and 'aria-label="Delete ready one"' not in assessor_page
    assert "Delete refused one" not in client_for(team.reviewer).get(page(team, "inventory")).content.decode()


@pytest.mark.parametrize("method", ["post", "delete"])
def test_the_api_deletes_a_refused_model_with_post_or_delete(team, method, django_capture_on_commit_callbacks):
    model = stored(ModelArtifact, team, "notes", IntakeStatus.REJECTED)
    with django_capture_on_commit_callbacks(execute=True):
        response = getattr(api(team.assessor), method)(api_url(team, f"models/{model.pk}/delete/"))
    assert response.status_code == 204
    assert not ModelArtifact.objects.exists() and not default_storage.exists(model.file.name)
    assert AuditEvent.objects.filter(action="model.deleted", actor=team.assessor).exists()


def test_the_api_refuses_to_delete_a_ready_dataset_or_for_a_reviewer(team):
    ready = stored(DatasetArtifact, team, "digits", IntakeStatus.READY)
    refused = stored(DatasetArtifact, team, "broken", IntakeStatus.REJECTED)
    response = api(team.owner).delete(api_url(team, f"datasets/{ready.pk}/delete/"))
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Only an upload the intake check refused can be deleted; “digits” is ready.",
    }
    assert api(team.reviewer).post(api_url(team, f"datasets/{refused.pk}/delete/")).status_code == 403
    assert api(team.outsider).post(api_url(team, f"datasets/{refused.pk}/delete/")).status_code == 404
    assert DatasetArtifact.objects.count() == 2


# --- refused uploads are offered nowhere ------------------------------------------------------------------------


@pytest.fixture
def versions(team):
    """v1 ready; v2, its next version, refused by the intake; and a refused teacher."""
    v1 = stored(ModelArtifact, team, "classifier", IntakeStatus.READY, version="1")
    v2 = stored(ModelArtifact, team, "classifier", IntakeStatus.REJECTED, version="2", previous_version=v1)
    teacher = stored(ModelArtifact, team, "hub teacher", IntakeStatus.REJECTED, role="teacher")
    return v1, v2, teacher


def test_refused_models_are_no_teacher_or_previous_version_choice(team, versions):
    v1, v2, teacher = versions
    form = ModelCardForm(project=team.project)
    for field in ("parent", "previous_version"):
        assert list(form.fields[field].queryset) == [v1]
    bound = ModelCardForm({"name": "s", "version": "1", "role": "student", "parent": teacher.pk}, project=team.project)
    assert bound.errors["parent"] == ["Choose another model of this project."]


def test_the_api_refuses_a_refused_model_as_teacher(team, versions):
    _, _, teacher = versions
    response = api(team.assessor).post(
        api_url(team, "models/upload/"),
        {"file": SimpleUploadedFile("s.safetensors", SAFETENSORS_HEAD), "parent_id": teacher.pk},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["parent_id"] == [
        f"Model {teacher.pk} was refused by the intake check; choose another model of this project."
    ]


def test_refused_uploads_are_no_run_or_dataset_choice(team, versions):
    v1, _, _ = versions
    ready = stored(DatasetArtifact, team, "digits", IntakeStatus.READY)
    stored(DatasetArtifact, team, "broken", IntakeStatus.REJECTED)
    assert list(ValidationForm(project=team.project).fields["dataset"].queryset) == [ready]
    evaluation = EvaluationForm(model=v1)
    assert list(evaluation.fields["dataset"].queryset) == [ready]
    assert list(evaluation.fields["teacher"].queryset) == []


def test_refused_models_are_in_no_chart_and_replace_no_version(team, versions):
    v1, _, _ = versions
    summaries, _ = model_summaries(team.project)
    assert [s.model for s in summaries] == [v1]
    assert not summaries[0].superseded  # a refused v2 does not replace v1


def test_the_trends_and_risk_pages_leave_refused_models_out(team, client_for, versions):
    client = client_for(team.viewer)
    trends = client.get(reverse("projects:dashboards:trends", kwargs={"project_id": team.project.pk}))
    assert [s.model.version for chain in trends.context["chains"] for s in chain] == ["1"]
    risk = client.get(reverse("projects:dashboards:risk", kwargs={"project_id": team.project.pk}))
    assert [s.model.version for s in risk.context["summaries"]] == ["1"]
    assert "hub teacher" not in str(risk.context["lineage"])


def test_the_gates_page_defaults_to_the_newest_model_that_was_not_refused(team, client_for, versions):
    v1, v2, _ = versions
    response = client_for(team.viewer).get(reverse("projects:gates:list", kwargs={"project_id": team.project.pk}))
    assert response.context["model"] == v1 and response.context["models"] == [v1]
    asked = client_for(team.viewer).get(
        reverse("projects:gates:list", kwargs={"project_id": team.project.pk}), {"model": v2.pk}
    )
    assert asked.context["model"] == v1  # a refused model is not offered even when asked for


def test_the_inventory_lineage_and_upload_choices_leave_refused_models_out(team, client_for, versions):
    v1, _, _ = versions
    response = client_for(team.assessor).get(page(team, "inventory"))
    assert [node.model for node in response.context["lineage"]] == [v1]
    assert list(response.context["model_form"].fields["parent"].queryset) == [v1]
    assert list(response.context["dataset_form"].fields["for_model"].queryset) == [v1]
    assert "hub teacher" in response.content.decode()  # still listed, with its reason, until deleted
