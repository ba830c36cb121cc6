"""A new evaluation kind is one declaration: registered, it is offered by the API and the model page's run form,
validated by its own fields, translated from a plan line and turned into evidence, with nothing else edited.
And the backdoor scan's own parameters (Neural Cleanse's cost schedule and restarts) reach the engine."""

import pytest
from django import forms
from django.urls import reverse

from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact
from riskapp.assessments.plan import PlannedJob
from riskapp.assessments.plan_runs import _planned_run
from riskapp.evaluations.forms import EvaluationForm
from riskapp.evaluations.kinds import job_runs_planned, register_evaluation_kind, unregister_evaluation_kind
from riskapp.evaluations.kinds.base import MODEL_FILES, EngineParams, EvaluationKind, PlanJob
from riskapp.evaluations.services import evidence_from_result
from riskapp.jobs.models import Job

pytestmark = pytest.mark.django_db


class NoiseParams(EngineParams):
    noise = forms.FloatField()


NOISE_CHECK = EvaluationKind(
    name="noise_check",
    label="Noise check",
    description="Accuracy under Gaussian input noise.",
    engine_task="noise",
    form=NoiseParams,
    file_params=MODEL_FILES,
    order=90,
    start_label="Noise check (accuracy under input noise)",
    run_fields={"noise": lambda: forms.FloatField(required=False, min_value=0, max_value=1, initial=0.1)},
    run_options=lambda data, model: {"noise": data["noise"]},
    evidence=lambda result, eps, norm: {"noise_accuracy": result["accuracy"]} if "accuracy" in result else {},
    plan=lambda line: PlanJob({"sample_limit": line.sample_limit, "noise": line.params["level"]}, line.model),
    ran_planned=lambda planned, parameters: parameters.get("noise") == planned.get("level"),
)


@pytest.fixture
def noise_check():
    register_evaluation_kind(NOISE_CHECK)
    yield NOISE_CHECK
    unregister_evaluation_kind(NOISE_CHECK.name)


@pytest.fixture
def ready(objects):
    ModelArtifact.objects.filter(pk=objects["model"].pk).update(status=IntakeStatus.READY, architecture="cnn-digits")
    DatasetArtifact.objects.filter(pk=objects["dataset"].pk).update(status=IntakeStatus.READY)
    return {"model_id": objects["model"].pk, "dataset_id": objects["dataset"].pk}


def create(api, team, kind, parameters):
    body = {"kind": kind, "parameters": parameters}
    return api.post(f"/api/v1/projects/{team.project.pk}/jobs/create/", body, format="json")


def test_a_declared_kind_is_started_over_the_api_with_its_own_parameter(team, api_for, ready, noise_check):
    api = api_for(team.assessor)
    response = create(api, team, "noise_check", ready | {"noise": 0.25})
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.kind, job.queue, job.parameters["noise"]) == ("noise_check", "gpu", 0.25)
    refused = create(api, team, "noise_check", ready | {"noise": 3})
    assert refused.status_code == 400
    assert refused.json() == {"parameters": {"noise": ["Ensure this value is less than or equal to 1."]}}


def parameters_help(client) -> str:
    schema = client.get("/api/v1/schema/?format=json").json()
    return schema["components"]["schemas"]["JobCreateInputRequest"]["properties"]["parameters"]["description"]


def test_the_api_schema_describes_each_kinds_parameters_from_its_declaration(client, noise_check):
    described = parameters_help(client)
    assert "noise_check: model_id, dataset_id, noise, steps, sample_limit." in described
    assert "environment_check: queue (gpu|cpu)." in described
    assert "lineage: model_id, dataset_id, teacher_id, steps, sample_limit." in described
    assert "backdoor_scan: model_id, dataset_id, cost_schedule (fixed|adaptive), restarts, steps" in described
    assert "validation: model_id, dataset_id, sample_limit." in described
    assert "intake" not in described  # started by uploads, never over the jobs API


def test_without_the_declaration_the_kind_is_unknown(team, api_for, ready):
    response = create(api_for(team.assessor), team, "noise_check", ready)
    assert response.status_code == 400 and "kind" in response.json()


def test_a_declared_kind_is_in_the_run_form_with_only_its_fields(team, objects, noise_check):
    form = EvaluationForm(model=objects["model"])
    assert ("noise_check", "Noise check (accuracy under input noise)") in form.fields["kind"].choices
    readers = {field.name: kinds for field, kinds in form.fields_for_page()}
    assert readers["noise"] == "noise_check"
    assert readers["cost_schedule"] == "backdoor_scan" and readers["dataset"] == ""
    assert set(readers["eps"].split()) == {"attack", "attack_suite", "robustness_curve", "transfer_attack"}


def test_a_declared_kind_is_translated_from_its_plan_line_and_gives_its_evidence(objects, noise_check):
    model = objects["model"]
    kind, options, target, reason = _planned_run(
        "noise_check", {"level": 0.3}, model=model, sample_limit=20, backdoor_steps=None
    )
    assert (kind, options, target, reason) == ("noise_check", {"sample_limit": 20, "noise": 0.3}, model, "")
    planned = PlannedJob("noise_check", {"level": 0.3}, ("why",), ("rule",), ())
    assert job_runs_planned(planned, "noise_check", {"noise": 0.3})
    assert not job_runs_planned(planned, "noise_check", {"noise": 0.5})
    assert evidence_from_result("noise_check", {"accuracy": 0.7}) == {"noise_accuracy": 0.7}


def test_the_backdoor_scan_takes_neural_cleanses_cost_schedule_and_restarts(team, api_for, ready):
    api = api_for(team.assessor)
    response = create(api, team, "backdoor_scan", ready | {"cost_schedule": "adaptive", "restarts": 2})
    assert response.status_code == 201, response.json()
    parameters = Job.objects.get(pk=response.json()["id"]).parameters
    assert (parameters["cost_schedule"], parameters["restarts"]) == ("adaptive", 2)
    plain = create(api, team, "backdoor_scan", ready)
    assert plain.status_code == 201
    blank = Job.objects.get(pk=plain.json()["id"]).parameters
    assert (blank["cost_schedule"], blank["restarts"]) == ("", None)  # the engine's defaults (fixed, 1)
    refused = create(api, team, "backdoor_scan", ready | {"cost_schedule": "sometimes", "restarts": 9})
    assert refused.status_code == 400
    assert refused.json() == {
        "parameters": {
            "cost_schedule": ["sometimes is not a cost schedule; choose fixed or adaptive."],
            "restarts": ["Ensure this value is less than or equal to 8."],
        }
    }


def test_the_model_page_marks_each_field_with_the_tests_that_read_it(team, client, ready):
    client.force_login(team.assessor)
    page = client.get(
        reverse("projects:artifacts:model", kwargs={"project_id": team.project.pk, "model_id": ready["model_id"]})
    ).content.decode()
    assert '<p data-kinds="backdoor_scan"><label for="id_cost_schedule">' in page
    assert '<p data-kinds="strip"><label for="id_suspect">' in page
    assert "run-form.js" in page
