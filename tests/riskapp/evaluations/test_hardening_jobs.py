"""Hardening jobs: started over the API and from a model's page, run by the engine on the demo's head-only
student, and their weights taken in as the model's next version with its lineage, provenance and audit event."""

import subprocess
import sys

import numpy as np
import pytest

from attacks.datasets import save_npz
from attacks.hardening import harden
from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact
from riskapp.assessments.epsilon import Budget
from riskapp.assessments.models import AssessmentVersion, Evidence
from riskapp.audit.models import AuditEvent
from riskapp.evaluations.kinds.hardening import HARDENING
from riskapp.evaluations.services import _hardened_evidence, project_budget_of
from riskapp.jobs.execute import job_execute
from riskapp.jobs.models import Job, JobStatus
from tests.riskapp.api.conftest import api_for, objects  # noqa: F401
from tests.riskapp.artifacts.test_upload import run_intake, upload_dataset, uploaded_model, url
from tests.riskapp.evaluations.pages import result_page

pytestmark = pytest.mark.django_db


def create(api, team, parameters):
    return api.post(
        f"/api/v1/projects/{team.project.pk}/jobs/create/",
        {"kind": "hardening", "parameters": parameters},
        format="json",
    )


@pytest.fixture
def ready(objects):  # noqa: F811
    ModelArtifact.objects.filter(pk=objects["model"].pk).update(status=IntakeStatus.READY, architecture="cnn-digits")
    DatasetArtifact.objects.filter(pk=objects["dataset"].pk).update(status=IntakeStatus.READY)
    return {
        "model_id": objects["model"].pk,
        "dataset_id": objects["dataset"].pk,
        "evaluation_id": objects["dataset"].pk,
    }


def test_an_adversarial_hardening_job_takes_the_projects_eps_and_queues_on_the_gpu(team, api_for, ready):  # noqa: F811
    response = create(api_for(team.assessor), team, {**ready, "method": "adversarial", "epochs": 2})
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    budget = project_budget_of(team.project)
    assert job.queue == "gpu"
    assert job.parameters["method"] == "adversarial" and job.parameters["epochs"] == 2
    assert (job.parameters["eps"], job.parameters["norm"]) == (budget.eps, budget.norm)
    assert job.parameters["eval_path"] == job.parameters["data_path"]  # the same dataset for both, here
    given = create(api_for(team.assessor), team, {**ready, "method": "trades", "hardening_eps": 0.03})
    assert Job.objects.get(pk=given.json()["id"]).parameters["eps"] == 0.03
    finetune = Job.objects.get(pk=create(api_for(team.assessor), team, {**ready, "method": "finetune"}).json()["id"])
    assert finetune.parameters.get("eps") is None and finetune.parameters["epochs"] == 5


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ({"method": "sharpen"}, "method", "Unknown method sharpen"),
        ({"method": "adversarial", "hardening_eps": -0.1}, "hardening_eps", "ε must be above 0"),
        ({"method": "finetune", "epochs": 0}, "epochs", "Epochs must be between 1 and 1000"),
        ({"method": "unlearn"}, "target_class", "Unlearning needs the class"),
        ({"method": "finetune", "evaluation_id": "omit"}, "evaluation_id", "Choose the clean evaluation data"),
    ],
)
def test_bad_hardening_parameters_are_refused_by_name(team, api_for, ready, bad, field, message):  # noqa: F811
    parameters = {name: value for name, value in {**ready, **bad}.items() if value != "omit"}
    response = create(api_for(team.assessor), team, parameters)
    assert response.status_code == 400, response.json()
    assert message in " ".join(response.json()["parameters"][field])
    assert not Job.objects.filter(kind="hardening").exists()


def test_the_run_form_shows_a_bad_epoch_count(team, client_for, ready):
    response = client_for(team.assessor).post(
        url("model_evaluate", team, model_id=ready["model_id"]),
        {
            "kind": "hardening",
            "dataset": ready["dataset_id"],
            "evaluation": ready["dataset_id"],
            "epochs": 5000,
            "method": "finetune",
            "sample_limit": 100,
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "Epochs must be between 1 and 1000" in response.content.decode()
    assert not Job.objects.filter(kind="hardening").exists()


def test_robust_accuracy_after_is_evidence_only_at_the_projects_eps_and_norm():
    result = {
        "parameters": {"eps": 0.1, "norm": "inf", "robust_evaluation": "autoattack", "eval_steps": 100},
        "after": {"robust_accuracy": {"value": 0.6, "samples": 500}, "clean_accuracy": {"value": 0.95}},
    }
    evidence, measurements = _hardened_evidence(result, Budget(eps=0.1, norm="inf"))
    assert evidence == {"robust_accuracy": 0.6}
    assert measurements["robust_accuracy"]["attacks"] == ["autoattack"]
    assert measurements["robust_accuracy"]["samples"] == 500
    assert _hardened_evidence(result, Budget(eps=0.2, norm="inf")) == ({}, {})  # a smaller ε than the project's
    assert _hardened_evidence(result, Budget(eps=0.1, norm="2")) == ({}, {})  # another norm
    finetuned = {"parameters": {}, "after": {"trigger_success": {"value": 0.1}}}
    assert _hardened_evidence(finetuned, Budget(eps=0.1, norm="inf")) == ({}, {})


def test_finetuning_the_head_only_student_makes_its_next_version(team, client_for, paths):
    assessor = client_for(team.assessor)
    card = {"architecture": "cnn-digits", "num_classes": 10}
    teacher = uploaded_model(assessor, team, paths["teacher"], name="public teacher", role="teacher", **card)
    student = uploaded_model(
        assessor, team, paths["student_head"], name="student", role="student", parent=teacher.pk, **card
    )
    clean = upload_dataset(assessor, team, paths["test"])
    triggered = upload_dataset(assessor, team, paths["test_triggered"], purpose="triggered")
    assessor.post(
        url("model_evaluate", team, model_id=student.pk),
        {
            "kind": "hardening",
            "method": "finetune",
            "dataset": clean.pk,
            "evaluation": clean.pk,
            "triggered": triggered.pk,
            "target_class": 0,
            "epochs": 1,
            "sample_limit": 300,
        },
    )
    job = Job.objects.get(kind="hardening")
    assert job_execute(job_id=job.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).error
    job.refresh_from_db()
    assert len(job.result["history"]) == 1 and "trigger_success" in job.result["after"]

    hardened = ModelArtifact.objects.get(previous_version=student)
    assert (hardened.name, hardened.version, hardened.parent, hardened.architecture) == (
        "student",
        "2",
        teacher,
        "cnn-digits",
    )
    assert hardened.num_classes == 10 and hardened.preprocessing == student.preprocessing
    assert hardened.provenance["hardening"] == "finetune" and hardened.provenance["job_id"] == job.pk
    assert hardened.sha256 == job.result["weights"]["sha256"]
    assert AuditEvent.objects.filter(action="model.hardened", project_id=team.project.pk).count() == 1
    assert not Evidence.objects.filter(model=hardened).exists()  # trigger success is no evidence kind
    hardened = run_intake(hardened)  # scanned and converted like any upload
    assert hardened.status == IntakeStatus.READY, hardened.status_message

    model_page = assessor.get(url("model", team, model_id=hardened.pk)).content.decode()
    assert "Made by riskapp: all layers fine-tuned on clean data, 1 epoch" in model_page
    page = result_page(assessor, team, job)
    assert "hardening-history-figure" in page and "Trigger success (known trigger)" in page
    assert "student v2" in page and "Fine-tune all layers on clean data" in page


def test_the_run_forms_methods_are_the_engines_read_without_torch():
    code = (
        "import sys; from attacks.hardening.methods import ADVERSARIAL_METHODS, METHODS; "
        "assert 'adversarial' in METHODS and set(ADVERSARIAL_METHODS) < set(METHODS); "
        "assert 'torch' not in sys.modules and 'numpy' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert [name for name, _ in HARDENING.run_fields["method"]().choices] == list(harden.METHODS)


def test_adversarial_finetuning_makes_a_version_with_its_robust_accuracy_as_evidence(team, client_for, paths, tmp_path):
    AssessmentVersion.objects.create(
        project=team.project, number=1, bank_version=1, answers={"requirements.input_eps": 0.1}
    )
    assessor = client_for(team.assessor)
    card = {"architecture": "cnn-digits", "num_classes": 10}
    student = uploaded_model(assessor, team, paths["student_head"], name="student", role="student", **card)
    with np.load(paths["test"]) as test:  # few evaluation samples: the robust evaluation attacks each 1,000 times
        small = save_npz(tmp_path / "small.npz", test["x"][:40], test["y"][:40])
    training, evaluation = upload_dataset(assessor, team, paths["test"]), upload_dataset(assessor, team, small)
    assessor.post(
        url("model_evaluate", team, model_id=student.pk),
        {
            "kind": "hardening",
            "method": "adversarial",
            "dataset": training.pk,
            "evaluation": evaluation.pk,
            "epochs": 1,
            "sample_limit": 200,
        },
    )
    job = Job.objects.get(kind="hardening")
    assert job_execute(job_id=job.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).error
    job.refresh_from_db()
    before, after = job.result["before"]["robust_accuracy"], job.result["after"]["robust_accuracy"]
    assert before["samples"] == after["samples"] == 40 and 0 <= before["value"] <= 1 and 0 <= after["value"] <= 1
    assert (job.result["parameters"]["eps"], job.result["parameters"]["norm"]) == (0.1, "inf")

    hardened = ModelArtifact.objects.get(previous_version=student)
    assert hardened.provenance["hardening"] == "adversarial" and hardened.provenance["job_id"] == job.pk
    assert hardened.provenance["source_model_id"] == student.pk
    [evidence] = Evidence.objects.filter(model=hardened, kind="robust_accuracy")
    assert evidence.value == after["value"] and evidence.job_id == job.pk
    assert evidence.measurement["attacks"] == ["apgd_ce", "apgd_t"] and evidence.measurement["samples"] == 40
    assert not Evidence.objects.filter(model=student).exists()  # the "before" number stays on the result page
    # The training attack ran in the engine's precision "auto" for this machine; the page says which.
    from attacks.environment import native_bfloat16

    expected = "bfloat16" if native_bfloat16() else "float32"
    assert job.result["training_attack"] == {"steps": 10, "precision": expected}
    page = result_page(assessor, team, job)
    assert "Training examples found by 10-step attacks" in page
    assert ("computed in bfloat16 (the training itself and every number here in float32)" in page) is (
        expected == "bfloat16"
    )
