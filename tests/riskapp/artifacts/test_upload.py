"""Uploading models and datasets through the browser: streaming, limits, hashes, intake in the sandbox,
hostile files refused with a recorded finding, lineage, validation, permission-checked downloads."""

from pathlib import Path

import pytest
from django.urls import reverse

from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact
from riskapp.jobs.execute import job_execute
from riskapp.jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db


def url(name, team, **kwargs):
    return reverse(f"projects:artifacts:{name}", kwargs={"project_id": team.project.pk, **kwargs})


def upload_model(client, team, path, *, filename=None, **card):
    data = {
        "name": card.pop("name", Path(path).stem),
        "version": "1",
        "role": "other",
        "input_min": 0,
        "input_max": 1,
        **card,
    }
    with open(path, "rb") as handle:
        data["upload"] = handle
        if filename is not None:
            from django.core.files.uploadedfile import SimpleUploadedFile

            data["upload"] = SimpleUploadedFile(filename, handle.read())
        return client.post(url("model_upload", team), data)


def run_intake(artifact):
    artifact.refresh_from_db()
    assert job_execute(job_id=artifact.intake_job_id) is not None  # the intake ran to an end
    artifact.refresh_from_db()
    return artifact


def uploaded_model(client, team, path, **card):
    response = upload_model(client, team, path, **card)
    assert response.status_code == 302, response.content.decode()[:2000]
    return run_intake(ModelArtifact.objects.order_by("-id").first())


def upload_dataset(client, team, path, purpose="evaluation"):
    with open(path, "rb") as handle:
        response = client.post(
            url("dataset_upload", team), {"upload": handle, "name": "digits test", "purpose": purpose}
        )
    assert response.status_code == 302
    return run_intake(DatasetArtifact.objects.order_by("-id").first())


@pytest.fixture
def assessor(team, client_for):
    return client_for(team.assessor)


def test_safetensors_model_passes_intake_and_validates_on_digits(team, assessor, trained_cnn):
    model = uploaded_model(assessor, team, trained_cnn["safetensors"], architecture="cnn-digits", num_classes=10)
    assert model.status == IntakeStatus.READY, model.status_message
    assert model.format == "safetensors" and model.weights.name and model.input_shape == [1, 8, 8]
    dataset = upload_dataset(assessor, team, trained_cnn["test"])
    assert dataset.status == IntakeStatus.READY and dataset.intake["samples"] > 300

    response = assessor.post(url("model_validate", team, model_id=model.pk), {"dataset": dataset.pk, "sample_limit": 0})
    assert response.status_code == 302
    job = Job.objects.get(kind="validation")
    assert job_execute(job_id=job.pk) == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert job.result["accuracy"] > 0.8
    page = assessor.get(url("model", team, model_id=model.pk)).content.decode()
    assert f"{job.result['accuracy']:.3f}" in page and "Confusion matrix" in page


@pytest.mark.parametrize("fmt", ["pt", "onnx"])
def test_every_model_format_validates_and_shows_its_clean_accuracy(team, assessor, trained_cnn, fmt):
    card = {"architecture": "cnn-digits", "num_classes": 10} if fmt == "pt" else {}
    model = uploaded_model(assessor, team, trained_cnn[fmt], **card)
    assert model.status == IntakeStatus.READY, model.status_message
    dataset = upload_dataset(assessor, team, trained_cnn["test"])
    assessor.post(url("model_validate", team, model_id=model.pk), {"dataset": dataset.pk, "sample_limit": 200})
    job = Job.objects.get(kind="validation")
    assert job_execute(job_id=job.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).error
    job.refresh_from_db()
    assert job.result["accuracy"] > 0.8 and job.result["samples"] == sum(job.result["class_support"]) == 200
    assert f"{job.result['accuracy']:.3f}" in assessor.get(url("model", team, model_id=model.pk)).content.decode()


def test_built_in_digits_datasets_are_added_through_the_same_intake(team, assessor):
    response = assessor.post(url("dataset_demo", team), follow=True)
    assert "Added digits (test split), digits (train split)" in response.content.decode()
    for dataset in DatasetArtifact.objects.all():
        run_intake(dataset)
    test_split = DatasetArtifact.objects.get(purpose="evaluation")
    assert test_split.status == IntakeStatus.READY and test_split.intake["samples"] == 500
    assert DatasetArtifact.objects.get(purpose="training").intake["samples"] == 1297
    again = assessor.post(url("dataset_demo", team), follow=True)
    assert "already" in again.content.decode() and DatasetArtifact.objects.count() == 2


def test_state_dict_checkpoint_is_converted_to_safetensors_at_intake(team, assessor, trained_cnn):
    model = uploaded_model(assessor, team, trained_cnn["pt"], architecture="cnn-digits", num_classes=10)
    assert model.status == IntakeStatus.READY, model.status_message
    assert model.format == "pytorch_zip"
    with model.weights.open("rb") as weights:
        header_length = int.from_bytes(weights.read(8), "little")
        assert weights.read(1) == b"{" and header_length > 0  # a safetensors file, not a pickle


def test_onnx_model_passes_intake_without_an_architecture(team, assessor, trained_cnn):
    model = uploaded_model(assessor, team, trained_cnn["onnx"])
    assert model.status == IntakeStatus.READY, model.status_message
    assert model.format == "onnx" and model.num_classes == 10


def test_weights_that_do_not_fit_the_architecture_are_refused_with_the_mismatches(team, assessor, trained_cnn):
    model = uploaded_model(assessor, team, trained_cnn["safetensors"], architecture="mlp-digits", num_classes=10)
    assert model.status == IntakeStatus.REJECTED
    assert "mlp-digits" in model.status_message


def test_the_same_file_twice_is_recognised_by_its_hash(team, assessor, trained_cnn):
    first = uploaded_model(assessor, team, trained_cnn["onnx"], name="first")
    response = upload_model(assessor, team, trained_cnn["onnx"], name="again")
    assert response.status_code == 302 and response.url == url("model", team, model_id=first.pk)
    assert ModelArtifact.objects.count() == 1


def test_student_links_to_its_teacher_and_both_pages_show_it(team, assessor, trained_cnn):
    teacher = uploaded_model(assessor, team, trained_cnn["onnx"], name="public teacher", role="teacher")
    student = uploaded_model(
        assessor,
        team,
        trained_cnn["safetensors"],
        name="our student",
        role="student",
        parent=teacher.pk,
        architecture="cnn-digits",
        num_classes=10,
    )
    assert student.parent == teacher
    assert "public teacher" in assessor.get(url("model", team, model_id=student.pk)).content.decode()
    assert "our student" in assessor.get(url("model", team, model_id=teacher.pk)).content.decode()
    inventory = assessor.get(url("inventory", team)).content.decode()
    tree = inventory.split('<ul class="lineage">', 1)[1]
    assert tree.index("public teacher") < tree.index("<ul>") < tree.index("our student")  # nested under it


def test_download_is_an_attachment_with_nosniff_and_outsiders_get_404(team, assessor, client_for, trained_cnn):
    model = uploaded_model(assessor, team, trained_cnn["onnx"])
    response = client_for(team.viewer).get(url("model_download", team, model_id=model.pk))
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/octet-stream"
    assert b"".join(response.streaming_content) == trained_cnn["onnx"].read_bytes()
    outsider = client_for(team.outsider)
    assert outsider.get(url("model", team, model_id=model.pk)).status_code == 404
    assert outsider.get(url("model_download", team, model_id=model.pk)).status_code == 404


def test_model_card_can_be_edited(team, assessor, trained_cnn):
    model = uploaded_model(assessor, team, trained_cnn["onnx"])
    response = assessor.post(
        url("model_edit", team, model_id=model.pk),
        {
            "name": "Traffic teacher",
            "version": "2",
            "role": "teacher",
            "architecture": "",
            "input_min": 0,
            "input_max": 255,
            "class_names": "stop, yield",
            "preprocessing": '{"scale": 255}',
            "teacher_sha256": "",
            "teacher_url": "",
            "teacher_name": "",
            "teacher_licence": "",
        },
    )
    assert response.status_code == 302
    model.refresh_from_db()
    assert (model.name, model.version, model.class_names, model.preprocessing, model.input_max) == (
        "Traffic teacher",
        "2",
        ["stop", "yield"],
        {"scale": 255},
        255,
    )
