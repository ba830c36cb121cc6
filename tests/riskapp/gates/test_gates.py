"""Quality gates: evaluation against the latest results, owner edits over the page and the API, and the
test plan a CI run queues for a model."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact
from riskapp.assessments.bank import load_bank
from riskapp.assessments.models import AssessmentVersion, RiskTreatment
from riskapp.audit.models import AuditEvent
from riskapp.gates.evaluate import gates_evaluate, gates_passed
from riskapp.gates.models import GateKind, QualityGate
from riskapp.jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db


def make_model(team, name="student", parent=None):
    return ModelArtifact.objects.create(
        project=team.project,
        name=name,
        original_name=f"{name}.safetensors",
        sha256=name.ljust(64, "0")[:64],
        size=3,
        file=ContentFile(b"abc", name="m.upload"),
        status=IntakeStatus.READY,
        architecture="cnn-digits",
        num_classes=10,
        parent=parent,
    )


def make_dataset(team):
    return DatasetArtifact.objects.create(
        project=team.project,
        name="digits",
        original_name="digits.npz",
        sha256="d" * 64,
        size=3,
        file=ContentFile(b"abc", name="d.upload"),
        status=IntakeStatus.READY,
    )


def finished(team, model, kind, result):
    return Job.objects.create(
        project=team.project,
        kind=kind,
        queue="gpu",
        status=JobStatus.SUCCEEDED,
        parameters={"model_id": model.pk},
        result=result,
        finished_at=timezone.now(),
    )


def attack_result(robust, eps=0.02, trustworthy=True):
    row = {"attack": "pgd_linf", "eps": eps, "robust_accuracy": robust, "clean_accuracy": 0.95}
    return {"trustworthy": trustworthy, "attacks": [row]}


def robust_gate(team, threshold=0.5):
    params = {"attack": "pgd_linf", "eps": 0.02, "threshold": threshold}
    return QualityGate.objects.create(project=team.project, kind=GateKind.MIN_ROBUST_ACCURACY, params=params)


def saved_gates(project, model=None):
    """The evaluation of the gates the owners saved, without the defaults derived from the answers."""
    return [r for r in gates_evaluate(project=project, model=model) if not r.gate.is_default]


def test_robust_accuracy_gate_reads_the_latest_attack_at_its_eps(team):
    model = make_model(team)
    robust_gate(team)
    [result] = saved_gates(team.project, model)
    assert result.passed is None and "not measured" in result.message and "counts as failed" in result.message
    finished(team, model, "attack", attack_result(0.9, eps=0.1))  # another ε measures nothing here
    assert saved_gates(team.project, model)[0].passed is None
    finished(team, model, "attack", attack_result(0.4))
    [result] = saved_gates(team.project, model)
    assert (result.passed, result.measured) == (False, 0.4) and "below 0.5" in result.message
    finished(team, model, "attack", attack_result(0.7))
    [result] = saved_gates(team.project, model)
    assert result.passed is True and gates_passed([result])
    finished(team, model, "attack", attack_result(0.8, trustworthy=False))
    [result] = saved_gates(team.project, model)
    assert result.passed is False and "not trustworthy" in result.message


def test_backdoor_and_transfer_gates(team):
    model = make_model(team)
    QualityGate.objects.create(project=team.project, kind=GateKind.NO_BACKDOOR_FLAG)
    QualityGate.objects.create(project=team.project, kind=GateKind.MAX_TRANSFER_SUCCESS, params={"threshold": 0.2})
    finished(team, model, "backdoor_scan", {"flagged_classes": [0], "classes": []})
    finished(team, model, "transfer_attack", {"transfer_success_rate": 0.1})
    backdoor, transfer = saved_gates(team.project, model)
    assert backdoor.passed is False and "class 0" in backdoor.message
    assert transfer.passed is True and transfer.measured == 0.1
    other = make_model(team, name="other")
    assert [r.passed for r in saved_gates(team.project, other)] == [None, None]


def test_risk_gate_fails_until_the_risks_above_appetite_are_accepted(team):
    team.project.risk_appetite = "low"
    team.project.save()
    # Every question answered "don't know": the worst case, so risks above a low appetite.
    answers = {question.id: "unknown" for question in load_bank().questions}
    AssessmentVersion.objects.create(project=team.project, number=1, bank_version=1, answers=answers)
    QualityGate.objects.create(project=team.project, kind=GateKind.NO_UNACCEPTED_RISK_ABOVE_APPETITE)
    [result] = saved_gates(team.project)
    assert result.passed is False and result.measured
    for threat in result.measured:
        RiskTreatment.objects.create(
            project=team.project,
            threat_id=threat,
            treatment="accept",
            owner=team.reviewer,
            rationale="Accepted until the next release.",
            expires_on=timezone.localdate() + timedelta(days=30),
            decided_by=team.reviewer,
        )
    assert saved_gates(team.project)[0].passed is True


def test_owner_adds_edits_and_deletes_a_gate_on_the_page(team, client_for):
    owner = client_for(team.owner)
    url = reverse("projects:gates:list", args=[team.project.pk])
    response = owner.post(reverse("projects:gates:create", args=[team.project.pk]), {"kind": "min_robust_accuracy"})
    assert response.status_code == 400 and "needs this" in response.content.decode()
    data = {"kind": "min_robust_accuracy", "attack": "pgd_linf", "eps": "0.03", "threshold": "0.6", "enabled": "on"}
    response = owner.post(reverse("projects:gates:create", args=[team.project.pk]), data)
    gate = QualityGate.objects.get()
    # No norm chosen: the project's (L∞ while the questionnaire does not say).
    assert response.url == url and gate.params == {"attack": "pgd_linf", "eps": 0.03, "norm": "inf", "threshold": 0.6}
    owner.post(reverse("projects:gates:edit", args=[team.project.pk, gate.pk]), {**data, "threshold": "0.7"})
    gate.refresh_from_db()
    assert gate.params["threshold"] == 0.7
    assert "robust accuracy ≥ 0.7" in owner.get(url).content.decode()
    owner.post(reverse("projects:gates:delete", args=[team.project.pk, gate.pk]))
    assert not QualityGate.objects.exists()
    actions = set(AuditEvent.objects.filter(project_id=team.project.pk).values_list("action", flat=True))
    assert {"gate.created", "gate.updated", "gate.deleted"} <= actions


def test_viewer_reads_gates_without_edit_controls(team, client_for):
    robust_gate(team)
    page = client_for(team.viewer).get(reverse("projects:gates:list", args=[team.project.pk])).content.decode()
    assert "robust accuracy ≥ 0.5" in page and "Add a gate" not in page and "Delete" not in page


def test_api_creates_gates_with_params_checked_by_kind(team, api_for):
    api = api_for(team.owner)
    url = f"/api/v1/projects/{team.project.pk}/gates/"
    response = api.post(url + "create/", {"kind": "max_transfer_success", "params": {"bound": 1}}, format="json")
    assert response.status_code == 400 and "bound" in response.json()["params"]
    response = api.post(url + "create/", {"kind": "max_transfer_success", "params": {}}, format="json")
    assert response.status_code == 400 and "threshold" in response.json()["params"]
    response = api.post(url + "create/", {"kind": "max_transfer_success", "params": {"threshold": 0.2}}, format="json")
    assert response.status_code == 201 and response.json()["params"] == {"threshold": 0.2}
    model = make_model(team)
    body = api_for(team.viewer).get(url, {"model": model.pk}).json()
    assert body["model_id"] == model.pk and body["passed"] is False
    assert body["gates"][0]["status"] == "not measured"


def test_test_plan_queues_the_plan_with_engine_names_and_skips_what_needs_a_teacher(team, api_for):
    AssessmentVersion.objects.create(
        project=team.project,
        number=1,
        bank_version=1,
        answers={"teacher.weights_public": "yes", "context.uses_pretrained": "yes", "requirements.input_eps": 0.05},
    )
    robust_gate(team)
    model = make_model(team)
    dataset = make_dataset(team)
    url = f"/api/v1/projects/{team.project.pk}/models/{model.pk}/test-plan/"
    response = api_for(team.assessor).post(url, {"sample_limit": 50}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["dataset_id"] == dataset.pk
    jobs = Job.objects.filter(pk__in=[job["id"] for job in body["jobs"]])
    assert {job.kind for job in jobs} >= {"validation", "attack"}
    attacks = [job.parameters for job in jobs if job.kind == "attack"]
    assert {"attacks": ["pgd_linf"], "eps": 0.05} in [{"attacks": a["attacks"], "eps": a["eps"]} for a in attacks]
    assert {"attacks": ["pgd_linf"], "eps": 0.02} in [{"attacks": a["attacks"], "eps": a["eps"]} for a in attacks]
    assert all(job.parameters["sample_limit"] == 50 for job in jobs)
    assert {"kind": "transfer_attack", "reason": "the model has no parent (teacher) to craft the attack on"} in body[
        "skipped"
    ]


def plan_answers(team):
    """Answers whose plan is a validation, a PGD and a Square attack, and a transfer attack from the public
    teacher, which a model without a parent cannot run."""
    answers = {
        "context.uses_pretrained": "yes",
        "context.security_decision": "no",
        "context.physical_harm": "no",
        "requirements.integrity_need": "moderate",
        "requirements.input_eps": 0.05,
        "teacher.source": "in_house",
        "teacher.weights_public": "yes",
        "fine_tuning.layers": "all",
        "fine_tuning.predictable_labels": "no",
        "fine_tuning.data_origin": ["own"],
        "fine_tuning.outsourced": "no",
        "deployment.api_output": ["rounded_scores"],
        "operation.continual_learning": "no",
    }
    return AssessmentVersion.objects.create(project=team.project, number=1, bank_version=1, answers=answers)


def test_assessor_runs_the_plan_from_the_register_page_and_follows_its_jobs(team, client_for):
    plan_answers(team)
    model = make_model(team)
    dataset = make_dataset(team)
    client = client_for(team.assessor)
    register = reverse("projects:assessments:register", args=[team.project.pk])
    page = client.get(register).content.decode()
    assert "Run the plan" in page and f'<option value="{model.pk}">student v1</option>' in page
    data = {"model": model.pk, "dataset": dataset.pk, "sample_limit": "20", "backdoor_steps": ""}
    response = client.post(reverse("projects:assessments:plan_run", args=[team.project.pk]), data, follow=True)
    assert response.redirect_chain == [(register + "#plan", 302)]
    jobs = list(Job.objects.filter(project=team.project).order_by("id"))
    # The plan's tests, then the scan the default "no backdoor flagged" gate needs (a teacher is used).
    assert [job.kind for job in jobs] == ["validation", "attack", "attack", "backdoor_scan"]
    assert [job.parameters.get("attacks") for job in jobs] == [None, ["pgd_linf"], ["square"], None]
    # The plan's Square budget is the engine's query budget per input (evidence rules weigh a run by it).
    assert [job.parameters.get("max_queries") for job in jobs] == [None, None, 1000, None]
    assert all(job.parameters["sample_limit"] == 20 and job.parameters["dataset_id"] == dataset.pk for job in jobs)
    assert all(job.created_by == team.assessor for job in jobs)
    page = response.content.decode()
    assert f"Test plan queued on student v1: Validation (job {jobs[0].pk}), Evasion attack (job {jobs[1].pk})" in page
    assert "Not run: Transfer attack, the model has no parent (teacher) to craft the attack on." in page
    assert "transfer_attack" not in page and "validation (job" not in page
    # Each planned test now links to its job, whose page shows the progress.
    for job in jobs[:3]:
        assert reverse("projects:jobs:detail", args=[team.project.pk, job.pk]) in page
    assert AuditEvent.objects.filter(action="model.test_plan_started", project_id=team.project.pk).exists()


def test_the_plans_hopskipjump_budget_reaches_the_engine(team, client_for):
    version = plan_answers(team)
    version.answers["deployment.api_output"] = ["label"]
    version.save()
    model, dataset = make_model(team), make_dataset(team)
    data = {"model": model.pk, "dataset": dataset.pk, "sample_limit": "20", "backdoor_steps": ""}
    client_for(team.assessor).post(reverse("projects:assessments:plan_run", args=[team.project.pk]), data)
    (hopskipjump,) = [job for job in Job.objects.filter(kind="attack") if job.parameters["attacks"] == ["hopskipjump"]]
    assert hopskipjump.parameters["max_queries"] == 1000


def test_plan_run_offers_only_models_and_data_that_passed_intake(team, client_for):
    plan_answers(team)
    model = make_model(team)
    model.status = IntakeStatus.CHECKING
    model.save()
    dataset = make_dataset(team)
    client = client_for(team.assessor)
    register = reverse("projects:assessments:register", args=[team.project.pk])
    page = client.get(register).content.decode()
    assert "Run the plan" not in page and "upload a model and evaluation data" in page
    data = {"model": model.pk, "dataset": dataset.pk, "sample_limit": "20"}
    page = client.post(reverse("projects:assessments:plan_run", args=[team.project.pk]), data, follow=True)
    assert "Model: Choose a model of this project that has passed intake (status “ready”)." in page.content.decode()
    assert not Job.objects.exists()


def test_viewer_reads_the_plan_without_the_run_form(team, client_for):
    plan_answers(team)
    make_model(team)
    make_dataset(team)
    page = client_for(team.viewer).get(reverse("projects:assessments:register", args=[team.project.pk]))
    assert "Recommended test plan" in page.content.decode() and "Run the plan" not in page.content.decode()


def test_plan_checklist_tells_the_attacks_and_the_teacher_and_student_scans_apart(team):
    from riskapp.assessments.bank import load_bank
    from riskapp.assessments.selectors import plan_checklist

    answers = {**plan_answers(team).answers, "teacher.source": "public_hub"}
    teacher = make_model(team, name="teacher")
    student = make_model(team, name="student", parent=teacher)
    ModelArtifact.objects.filter(pk=teacher.pk).update(role="teacher")
    ModelArtifact.objects.filter(pk=student.pk).update(role="student")
    square = finished(team, student, "attack", attack_result(0.4))
    Job.objects.filter(pk=square.pk).update(parameters={"model_id": student.pk, "attacks": ["square"]})
    Job.objects.create(project=team.project, kind="backdoor_scan", queue="gpu", parameters={"model_id": teacher.pk})

    def states():
        items = plan_checklist(project=team.project, bank=load_bank(), answers=answers)
        params = [item.planned.params for item in items]
        return {(i.planned.kind, p.get("attack", p.get("target"))): i.state for i, p in zip(items, params, strict=True)}

    checklist = states()
    assert checklist[("attack", "pgd")] == "not run"  # the Square attack is not the planned PGD attack
    assert checklist[("attack", "square")] == "done"
    assert checklist[("backdoor_scan", "teacher")] == "running"
    assert checklist[("backdoor_scan", "student")] == "not run"
    newer = make_model(team, name="student v2")
    newer.previous_version = student
    newer.save()
    assert states()[("attack", "square")] == "stale"


def test_the_plan_on_an_onnx_model_runs_its_black_box_tests_and_says_why_white_box_ones_are_skipped(team, client_for):
    plan_answers(team)
    model = make_model(team)
    ModelArtifact.objects.filter(pk=model.pk).update(format="onnx", architecture="")
    dataset = make_dataset(team)
    data = {"model": model.pk, "dataset": dataset.pk, "sample_limit": "20", "backdoor_steps": ""}
    client = client_for(team.assessor)
    response = client.post(reverse("projects:assessments:plan_run", args=[team.project.pk]), data, follow=True)
    jobs = list(Job.objects.filter(project=team.project).order_by("id"))
    assert [(job.kind, job.parameters.get("attacks")) for job in jobs] == [("validation", None), ("attack", ["square"])]
    page = response.content.decode()
    assert "Not run: Evasion attack, “student” is ONNX: no gradients or features, so white-box tests cannot run" in page


# --- default gates, from the answers -------------------------------------------------------------------------


def defaults_for(answers):
    from riskapp.gates.defaults import default_gates

    return [(gate.kind, gate.params) for gate in default_gates(load_bank(), answers)]


def test_default_gates_follow_the_answers():
    answers = {
        "context.uses_pretrained": "yes",
        "requirements.input_eps": 0.05,
        "requirements.robust_accuracy_target": 0.6,
    }
    assert defaults_for(answers) == [
        (GateKind.MIN_ROBUST_ACCURACY, {"attack": "pgd_linf", "eps": 0.05, "norm": "inf", "threshold": 0.6}),
        (GateKind.NO_BACKDOOR_FLAG, {}),
        (GateKind.NO_UNACCEPTED_RISK_ABOVE_APPETITE, {}),
    ]
    # ε unanswered: the recommended test's own ε; no teacher: no backdoor gate; no requirement: no robustness gate.
    assert defaults_for({"context.uses_pretrained": "no", "requirements.robust_accuracy_target": 0.6})[0] == (
        GateKind.MIN_ROBUST_ACCURACY,
        {"attack": "pgd_linf", "eps": 0.03, "norm": "inf", "threshold": 0.6},
    )
    assert defaults_for({"context.uses_pretrained": "no"}) == [(GateKind.NO_UNACCEPTED_RISK_ABOVE_APPETITE, {})]
    # "Don't know" about the teacher keeps the backdoor gate: a teacher may be used.
    assert (GateKind.NO_BACKDOOR_FLAG, {}) in defaults_for({"context.uses_pretrained": "unknown"})


def test_the_gates_page_marks_the_defaults_and_an_owner_disables_and_restores_one(team, client_for):
    AssessmentVersion.objects.create(
        project=team.project,
        number=1,
        bank_version=1,
        answers={"context.uses_pretrained": "yes", "requirements.robust_accuracy_target": 0.6},
    )
    owner = client_for(team.owner)
    url = reverse("projects:gates:list", args=[team.project.pk])
    page = owner.get(url).content.decode()
    assert page.count('<span class="badge">default</span>') == 3
    assert "from the answers: the robustness requirement (0.6)" in page and "Disable" in page
    # "Change" fills the add form with the default's settings.
    page = owner.get(url, {"override": "min_robust_accuracy"}).content.decode()
    assert 'name="threshold" value="0.6"' in page and 'name="eps" value="0.03"' in page
    # "Disable" saves the default's kind, switched off: it replaces the default.
    owner.post(reverse("projects:gates:create", args=[team.project.pk]), {"kind": "no_backdoor_flag"})
    gate = QualityGate.objects.get()
    assert (gate.kind, gate.enabled) == (GateKind.NO_BACKDOOR_FLAG, False)
    results = gates_evaluate(project=team.project)
    assert [(r.gate.kind, r.gate.is_default, r.gate.enabled) for r in results] == [
        (GateKind.NO_BACKDOOR_FLAG, False, False),
        (GateKind.MIN_ROBUST_ACCURACY, True, True),
        (GateKind.NO_UNACCEPTED_RISK_ABOVE_APPETITE, True, True),
    ]
    # Deleting the saved gate brings the default back.
    owner.post(reverse("projects:gates:delete", args=[team.project.pk, gate.pk]))
    assert sum(r.gate.is_default for r in gates_evaluate(project=team.project)) == 3
    viewer_page = client_for(team.viewer).get(url).content.decode()
    assert '<span class="badge">default</span>' in viewer_page and "Disable" not in viewer_page


def test_the_api_lists_the_default_gates_marked_as_such(team, api_for):
    AssessmentVersion.objects.create(
        project=team.project, number=1, bank_version=1, answers={"context.uses_pretrained": "no"}
    )
    body = api_for(team.viewer).get(f"/api/v1/projects/{team.project.pk}/gates/").json()
    [gate] = [result["gate"] for result in body["gates"]]
    assert gate["id"] is None and gate["default"] is True and gate["kind"] == "no_unaccepted_risk_above_appetite"
    assert gate["default_from"] and gate["created_at"] is None
