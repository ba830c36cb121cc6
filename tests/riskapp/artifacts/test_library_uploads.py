"""timm / torchvision / Hugging Face models and image-folder datasets through the browser and the API:
the searchable architecture field, the card's pre-processing, intake in the sandbox, the dataset page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact
from riskapp.jobs.execute import job_execute
from riskapp.jobs.models import Job, JobStatus
from tests import library_models as made
from tests.riskapp.artifacts.test_upload import run_intake, upload_model, uploaded_model, url

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def assessor(team, client_for):
    return client_for(team.assessor)


@pytest.fixture(scope="module")
def library_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("library-uploads")
    made.huggingface_folder(folder / "vit")
    return {
        "timm": made.timm_student(folder / "timm.safetensors"),
        "hf": made.zip_folder(folder / "vit", folder / "vit.zip"),
        "images": made.image_folder_zip(folder / "images.zip", count_per_class=4, top="colours/"),
    }


def upload_images(client, team, path: Path, for_model: ModelArtifact | None = None) -> DatasetArtifact:
    data = {"name": "colours", "purpose": "evaluation", "for_model": for_model.pk if for_model else ""}
    with open(path, "rb") as handle:
        response = client.post(url("dataset_upload", team), {**data, "upload": handle})
    assert response.status_code == 302, response.content.decode()[:2000]
    return run_intake(DatasetArtifact.objects.order_by("-id").first())


def test_the_architecture_field_searches_instead_of_listing_fourteen_hundred_names(team, assessor):
    page = assessor.get(url("inventory", team)).content.decode()
    assert 'list="id_architecture-options"' in page and "hx-get=" in page
    assert '<option value="timm/resnet50"' not in page  # no 1,400-entry list in the page
    options = assessor.get(url("architectures", team), {"architecture": "resnet50"}).content.decode()
    assert options.index('value="timm/resnet50"') < options.index('value="torchvision/resnet50"')
    assert "25,557,032" in options or "25557032" in options


def test_outsider_gets_404_on_architecture_search_and_dataset_page(team, client_for):
    outsider = client_for(team.outsider)
    assert outsider.get(url("architectures", team), {"q": "resnet"}).status_code == 404
    dataset = DatasetArtifact.objects.create(project=team.project, name="d", original_name="d", sha256="0", size=1)
    assert outsider.get(url("dataset", team, dataset_id=dataset.pk)).status_code == 404


def test_an_unknown_architecture_or_a_contradicting_card_is_refused_with_what_to_do(team, assessor, library_files):
    response = upload_model(assessor, team, library_files["timm"], architecture="timm/resnet5000")
    assert response.status_code == 400
    assert "Closest: timm/resnet50, torchvision/resnet50" in response.content.decode()
    response = upload_model(
        assessor, team, library_files["timm"], architecture="timm/test_resnet", preprocessing='{"mean": [0.1, 0.2]}'
    )
    assert response.status_code == 400 and "mean has 2 values for a 3-channel input" in response.content.decode()
    assert not ModelArtifact.objects.exists()


def test_a_timm_student_and_an_image_folder_pass_intake_validate_and_evaluate(team, assessor, library_files):
    model = uploaded_model(
        assessor,
        team,
        library_files["timm"],
        architecture="timm/test_resnet",
        num_classes=3,
        class_names="blue, green, red",
        preprocessing='{"input_size": [3, 64, 64]}',
    )
    assert model.status == IntakeStatus.READY, model.status_message
    assert Job.objects.get(pk=model.intake_job_id).parameters["preprocessing"] == {"input_size": [3, 64, 64]}
    assert model.intake["preprocessing"]["input_size"] == [3, 64, 64] and model.input_shape == [3, 64, 64]
    page = assessor.get(url("model", team, model_id=model.pk)).content.decode()
    assert "centre-cropped" in page and "from the model card" in page

    dataset = upload_images(assessor, team, library_files["images"], for_model=model)
    assert dataset.status == IntakeStatus.READY, dataset.status_message
    assert dataset.format == "image_folder" and dataset.intake["input_shape"] == [3, 64, 64]
    assert dataset.intake["class_names"] == ["blue", "green", "red"] and dataset.intake["class_counts"] == [4, 4, 4]
    page = assessor.get(url("dataset", team, dataset_id=dataset.pk)).content.decode()
    assert page.count('alt="example of red"') >= 1 and "<meter" in page and "image folder (zip)" in page

    assessor.post(url("model_validate", team, model_id=model.pk), {"dataset": dataset.pk, "sample_limit": 0})
    job = Job.objects.get(kind="validation")
    assert job.parameters["preprocessing"] == {"input_size": [3, 64, 64]}
    assert job_execute(job_id=job.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).error
    job.refresh_from_db()
    assert job.result["accuracy"] == 1.0 and job.result["preprocessing"]["input_size"] == [3, 64, 64]

    response = assessor.post(
        url("model_evaluate", team, model_id=model.pk),
        {"kind": "attack", "dataset": dataset.pk, "attack": "pgd_linf", "eps": "0.3", "sample_limit": 12, "steps": 5},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    attack = Job.objects.get(kind="attack")
    assert job_execute(job_id=attack.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=attack.pk).error
    attack.refresh_from_db()
    assert attack.result["model"]["preprocessing"]["source"] == "card"
    assert attack.result["attacks"][0]["robust_accuracy"] < attack.result["attacks"][0]["clean_accuracy"]


def test_a_hugging_face_folder_zip_takes_its_type_labels_and_preprocessing_from_the_folder(
    team, assessor, library_files
):
    model = uploaded_model(assessor, team, library_files["hf"], architecture="huggingface")
    assert model.status == IntakeStatus.READY, model.status_message
    assert model.format == "hf_folder" and model.architecture == "huggingface/vit" and model.num_classes == 3
    assert model.class_names == ["blue", "green", "red"] and model.input_shape == [3, 32, 32]
    assert model.intake["preprocessing"]["source"] == "huggingface" and model.weights.name.endswith(".zip")
    dataset = upload_images(assessor, team, library_files["images"], for_model=model)
    assert dataset.intake["input_shape"] == [3, 32, 32]
    assessor.post(url("model_validate", team, model_id=model.pk), {"dataset": dataset.pk, "sample_limit": 0})
    job = Job.objects.get(kind="validation")
    assert job_execute(job_id=job.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).error
    job.refresh_from_db()
    assert job.result["arch"] == "huggingface/vit" and job.result["accuracy"] >= 0.9


def test_an_image_folder_without_a_model_is_decoded_at_224_with_its_folders_in_order(team, assessor, library_files):
    dataset = upload_images(assessor, team, library_files["images"])
    params = Job.objects.get(pk=dataset.intake_job_id).parameters
    assert params["interpolation"] == "" and params["crop_pct"] is None  # the form's blanks: the defaults
    assert dataset.status == IntakeStatus.READY, dataset.status_message
    assert dataset.intake["input_shape"] == [3, 224, 224] and dataset.intake["class_names"] == list(made.CLASSES)
    assert dataset.intake["transform"]["crop_pct"] == 0.875


def test_architecture_search_over_the_api(team, client_for):
    api = client_for(team.assessor)
    found = api.get(reverse("api:architecture_list"), {"search": "vit small 224", "limit": 3}).json()
    names = [entry["name"] for entry in found]
    assert len(found) == 3 and all("vit" in n and "small" in n and "224" in n for n in names)
    assert found[0]["preprocessing"]["mean"] and found[0]["source"] == "timm"


def test_an_image_folder_dataset_over_the_api_is_decoded_for_the_chosen_model(team, client_for, library_files):
    from django.core.files.uploadedfile import SimpleUploadedFile

    model = ModelArtifact.objects.create(
        project=team.project,
        name="m",
        original_name="m",
        sha256="1",
        size=1,
        status=IntakeStatus.READY,
        architecture="timm/test_resnet",
        num_classes=3,
        class_names=["blue", "green", "red"],
        intake={"preprocessing": {"input_size": [3, 40, 40], "crop_pct": 0.9, "interpolation": "bicubic"}},
    )
    api = client_for(team.assessor)
    upload = SimpleUploadedFile("colours.zip", library_files["images"].read_bytes())
    response = api.post(
        reverse("api:dataset_upload", kwargs={"project_id": team.project.pk}),
        {"file": upload, "purpose": "evaluation", "for_model_id": model.pk},
    )
    assert response.status_code == 201, response.content.decode()
    dataset = DatasetArtifact.objects.get()
    params = Job.objects.get(pk=dataset.intake_job_id).parameters
    assert params["input_shape"] == [3, 40, 40] and params["class_names"] == ["blue", "green", "red"]
    assert (params["crop_pct"], params["interpolation"]) == (0.9, "bicubic")
    dataset = run_intake(dataset)
    assert dataset.status == IntakeStatus.READY and dataset.intake["input_shape"] == [3, 40, 40]


def test_the_web_process_never_imports_torch_for_the_catalogue_and_card_checks():
    code = (
        "import os, sys, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'riskapp.settings')\n"
        "django.setup()\n"
        "import riskapp.urls\n"
        "from riskapp.artifacts.cards import architecture_options, architecture_problem, preprocessing_problem\n"
        "from riskapp.artifacts.forms import ArchitectureInput\n"
        "assert architecture_options('resnet') and architecture_problem('timm/resnet5000')\n"
        "assert preprocessing_problem('timm/resnet50', {'mean': [1, 2]})\n"
        "ArchitectureInput('/s/').render('architecture', 'timm/resnet50')\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"
