"""Jobs over the API: created by kind with validated parameters, status and progress, cancel, result, files."""

import pytest

from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact
from riskapp.evaluations.kinds import EVALUATION_KINDS
from riskapp.jobs.models import Job, JobStatus
from riskapp.projects.services import project_create
from tests.riskapp.evaluations.test_run_form_norm import PGD_LINF_IN_L2
from tests.riskapp.gates.test_gate_norms import l2_project
from tests.riskapp.gates.test_gates import make_dataset, make_model

pytestmark = pytest.mark.django_db


def base(team) -> str:
    return f"/api/v1/projects/{team.project.pk}"


def create(api, team, kind, parameters=None):
    body = {"kind": kind} if parameters is None else {"kind": kind, "parameters": parameters}
    return api.post(f"{base(team)}/jobs/create/", body, format="json")


def test_an_environment_check_is_created_and_enqueued_on_its_queue(
    team, api_for, sent_jobs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = create(api_for(team.assessor), team, "environment_check", {"queue": "cpu"})
    assert response.status_code == 201, response.json()
    body = response.json()
    job = Job.objects.get(pk=body["id"])
    assert (job.kind, job.queue, job.status, job.created_by) == ("environment_check", "cpu", "queued", team.assessor)
    assert body["status"] == "queued" and body["progress"] == 0 and body["is_finished"] is False
    assert sent_jobs == [(job.pk, "cpu")]


def test_parameters_get_their_defaults(team, api_for):
    body = create(api_for(team.assessor), team, "speed_check").json()
    assert body["parameters"] == {"queue": "gpu", "duration_s": 10.0, "size": 512}


def test_a_security_test_is_started_through_the_evaluation_service(team, api_for, objects):
    ModelArtifact.objects.filter(pk=objects["model"].pk).update(status=IntakeStatus.READY, architecture="cnn-digits")
    DatasetArtifact.objects.filter(pk=objects["dataset"].pk).update(status=IntakeStatus.READY)
    api = api_for(team.assessor)
    curve = create(
        api,
        team,
        "robustness_curve",
        {"model_id": objects["model"].pk, "dataset_id": objects["dataset"].pk, "eps": [0.1, 0.05], "sample_limit": 50},
    )
    assert curve.status_code == 201, curve.json()
    parameters = Job.objects.get(pk=curve.json()["id"]).parameters
    assert parameters["eps"] == [0.05, 0.1] and parameters["attacks"] == ["pgd_linf"]
    assert parameters["model_id"] == objects["model"].pk and parameters["sample_limit"] == 50
    transfer = create(
        api, team, "transfer_attack", {"model_id": objects["model"].pk, "dataset_id": objects["dataset"].pk}
    )
    assert transfer.status_code == 400
    assert transfer.json() == {"parameters": {"teacher_id": ["Choose the teacher to compare with."]}}
    validation = create(api, team, "validation", {"model_id": objects["model"].pk, "dataset_id": objects["dataset"].pk})
    assert validation.status_code == 201 and validation.json()["kind"] == "validation"


def test_job_list_filters_by_status_and_never_shows_another_projects_jobs(team, api_for, objects):
    other = project_create(user=team.viewer, name="Viewer's own", risk_appetite="low")
    Job.objects.create(project=other, kind="environment_check", queue="cpu")
    api = api_for(team.viewer)
    everything = api.get(f"{base(team)}/jobs/").json()
    assert everything["count"] == 2
    assert {j["id"] for j in everything["results"]} == {objects["job"].pk, objects["running_job"].pk}
    running = api.get(f"{base(team)}/jobs/?status=running").json()
    assert [j["id"] for j in running["results"]] == [objects["running_job"].pk]
    bad = api.get(f"{base(team)}/jobs/?status=sleeping")
    assert bad.status_code == 400 and "status" in bad.json()


def test_job_detail_shows_status_progress_and_files(team, api_for, objects):
    Job.objects.filter(pk=objects["running_job"].pk).update(progress=42, progress_message="batch 4 of 10")
    body = api_for(team.viewer).get(f"{base(team)}/jobs/{objects['running_job'].pk}/").json()
    assert (body["status"], body["progress"], body["progress_message"]) == ("running", 42, "batch 4 of 10")
    done = api_for(team.viewer).get(f"{base(team)}/jobs/{objects['job'].pk}/").json()
    assert done["files"] == [{"id": objects["file"].pk, "name": "report.csv", "size": 4}]


def test_another_projects_job_answers_404_through_your_own_project(team, api_for, objects):
    own = project_create(user=team.outsider, name="Own", risk_appetite="low")
    api = api_for(team.outsider)
    assert api.get(f"/api/v1/projects/{own.pk}/jobs/{objects['job'].pk}/").status_code == 404
    assert api.post(f"/api/v1/projects/{own.pk}/jobs/{objects['running_job'].pk}/cancel/").status_code == 404


def test_cancel_a_running_job_then_a_finished_one(team, api_for, objects):
    api = api_for(team.assessor)
    response = api.post(f"{base(team)}/jobs/{objects['running_job'].pk}/cancel/")
    assert response.status_code == 200 and response.json()["cancel_requested"] is True
    finished = api.post(f"{base(team)}/jobs/{objects['job'].pk}/cancel/")
    assert finished.status_code == 409
    assert finished.json() == {"detail": "This job has already finished; there is nothing to cancel."}


def test_a_queued_job_is_cancelled_at_once(team, api_for):
    api = api_for(team.assessor)
    job_id = create(api, team, "environment_check").json()["id"]
    assert api.post(f"{base(team)}/jobs/{job_id}/cancel/").json()["status"] == "cancelled"


def test_result_is_409_until_the_job_has_finished(team, api_for, objects):
    api = api_for(team.viewer)
    pending = api.get(f"{base(team)}/jobs/{objects['running_job'].pk}/result/")
    assert pending.status_code == 409
    assert pending.json() == {
        "detail": f"Job {objects['running_job'].pk} is running (0%): its result is ready once it has finished."
    }
    done = api.get(f"{base(team)}/jobs/{objects['job'].pk}/result/").json()
    assert done["status"] == JobStatus.SUCCEEDED and done["result"] == {"python": "3.11"}
    assert done["files"][0]["name"] == "report.csv"


def test_a_job_file_downloads_as_an_attachment(team, api_for, objects):
    response = api_for(team.viewer).get(f"{base(team)}/jobs/{objects['job'].pk}/files/{objects['file'].pk}/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"a,b\n"
    assert response["Content-Disposition"].startswith("attachment") and response["X-Content-Type-Options"] == "nosniff"


def test_the_jobs_api_takes_the_norm_as_the_run_form_does(team, api_for):
    l2_project(team)
    model, dataset = make_model(team), make_dataset(team)
    api = api_for(team.assessor)
    ids = {"model_id": model.pk, "dataset_id": dataset.pk, "sample_limit": 50}
    assert "norm (inf|2)" in EVALUATION_KINDS["attack"].api_parameters()
    refused = create(api, team, "attack", ids | {"attack": "pgd_linf", "eps": 0.5, "norm": "2"})
    assert refused.status_code == 400 and refused.json() == {"parameters": {"attack": [PGD_LINF_IN_L2]}}
    left_out = create(api, team, "attack", ids | {"attack": "fgsm", "eps": 0.5})
    assert left_out.status_code == 201, left_out.json()
    assert Job.objects.get(pk=left_out.json()["id"]).parameters["norm"] == "2"
    chosen = create(api, team, "attack", ids | {"attack": "pgd_linf", "eps": 0.03, "norm": "inf"})
    assert chosen.status_code == 201 and Job.objects.get(pk=chosen.json()["id"]).parameters["norm"] == "inf"
    wrong = create(api, team, "robustness_curve", ids | {"eps": [0.5], "norm": "1"})
    assert wrong.json() == {"parameters": {"norm": ["1 is not a norm; choose inf (L∞) or 2 (L2)."]}}
