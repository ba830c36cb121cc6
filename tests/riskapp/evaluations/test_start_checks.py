"""What is refused before a test is queued: labels that follow other classes than the model's, gradients of ONNX."""

import pytest
from django.core.exceptions import ValidationError

from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact
from riskapp.artifacts.services import validation_start
from riskapp.evaluations.services import evaluation_start
from riskapp.jobs.models import Job
from tests.riskapp.artifacts.test_upload import url

pytestmark = pytest.mark.django_db


def _model(team, *, format="safetensors", class_names=("blue", "green", "red")):
    return ModelArtifact.objects.create(
        project=team.project, name="student", original_name="m", sha256="a" * 64, size=1, file="m", format=format,
        architecture="" if format == "onnx" else "timm/test_resnet", num_classes=3, class_names=list(class_names),
        status=IntakeStatus.READY,
    )  # fmt: skip


def _images(team, class_names, letter="b"):
    return DatasetArtifact.objects.create(
        project=team.project, name=f"photos-{letter}", original_name="photos.zip", sha256=letter * 64, size=1,
        file=f"d{letter}", format="image_folder", status=IntakeStatus.READY,
        intake={"samples": 12, "class_names": list(class_names)},
    )  # fmt: skip


ATTACK = {"attacks": ["pgd_linf"], "eps": 0.1, "norm": "inf"}


def test_an_image_folder_labelled_for_other_classes_is_refused_with_what_to_do(team):
    model = _model(team, class_names=("red", "green", "blue"))
    alphabetical = _images(team, ["blue", "green", "red"])  # taken in for no model: folders in alphabetical order
    for start in (
        lambda: evaluation_start(actor=team.assessor, kind="attack", model=model, dataset=alphabetical, options=ATTACK),
        lambda: validation_start(actor=team.assessor, model=model, dataset=alphabetical),
    ):
        with pytest.raises(ValidationError) as refused:
            start()
        message = refused.value.messages[0]
        assert "labels its images as blue, green, red" in message and "outputs red, green, blue" in message
        assert "“Prepare images for” set to student v1" in message
    assert not Job.objects.exists()
    # Matched to the model's classes (or an .npz, which has no class names): queued.
    matched = _images(team, ["red", "green", "blue"], letter="c")
    assert evaluation_start(actor=team.assessor, kind="attack", model=model, dataset=matched, options=ATTACK).pk
    arrays = DatasetArtifact.objects.create(
        project=team.project, name="x.npz", original_name="x.npz", sha256="e" * 64, size=1, file="e",
        status=IntakeStatus.READY, intake={"samples": 12},
    )  # fmt: skip
    assert validation_start(actor=team.assessor, model=model, dataset=arrays).pk


def test_a_white_box_test_of_an_onnx_model_is_refused_before_it_is_queued(team, client_for):
    onnx = _model(team, format="onnx")
    images = _images(team, ["blue", "green", "red"])
    with pytest.raises(ValidationError, match="needs the model's gradients.*ONNX model.*choose Square or HopSkipJump"):
        evaluation_start(actor=team.assessor, kind="attack", model=onnx, dataset=images, options=ATTACK)
    assert not Job.objects.exists()
    square = {"attacks": ["square"], "eps": 0.1, "norm": "inf"}
    assert evaluation_start(actor=team.assessor, kind="attack", model=onnx, dataset=images, options=square).pk
    # The run form says the same and queues nothing.
    response = client_for(team.assessor).post(
        url("model_evaluate", team, model_id=onnx.pk),
        {"kind": "attack", "dataset": images.pk, "attack": "pgd_linf", "eps": "0.1", "sample_limit": 10},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == url("model", team, model_id=onnx.pk)
    assert "needs the model&#x27;s gradients" in response.content.decode()
    assert Job.objects.count() == 1
