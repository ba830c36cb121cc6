"""The recommended test plan carries the project's norm: on an L2 project its lines, and the jobs "Run the plan"
queues, attack in L2, so the default L2 gate is measured by running the plan."""

from datetime import date

import pytest

from attacks.evasion.attacks import ATTACK_PROPERTIES
from riskapp.assessments.bank import load_bank
from riskapp.assessments.epsilon import attack_in_norm
from riskapp.assessments.models import AssessmentVersion
from riskapp.assessments.plan import recommended_plan
from riskapp.assessments.plan_runs import model_test_plan_runs, model_test_plan_start
from riskapp.assessments.selectors import plan_checklist
from riskapp.gates.evaluate import gates_evaluate
from riskapp.gates.models import GateKind
from riskapp.gates.selectors import verdict_inputs
from riskapp.jobs.execute import job_execute
from riskapp.jobs.models import Job, JobStatus
from tests.riskapp.assessments.test_plan import QUIET
from tests.riskapp.evaluations.test_evidence import make_model
from tests.riskapp.gates.test_gates import make_dataset

L2 = {"requirements.input_eps": 0.5, "requirements.input_norm": "l2", "requirements.robust_accuracy_target": 0.6}
HIGH_STAKES = {"requirements.integrity_need": "high", "teacher.weights_public": "yes"}


def budget_lines(answers):
    return [job for job in recommended_plan(load_bank(), answers) if "eps" in job.params or "max_eps" in job.params]


def test_each_attack_measures_in_the_norm_asked_for_where_the_engine_has_that_form():
    assert attack_in_norm("pgd_linf", "2") == ("pgd_l2", "2")
    assert attack_in_norm("pgd_l2", "inf") == ("pgd_linf", "inf")
    assert attack_in_norm("fgsm", "2") == ("fgsm", "2")  # follows the run's norm
    assert attack_in_norm("autoattack", "2") == ("autoattack", "2")
    assert attack_in_norm("cw_l2", "inf") == ("cw_l2", "2")  # no L∞ form: keeps its own


def test_every_budget_line_of_an_l2_project_carries_l2_and_the_linf_default_otherwise():
    lines = budget_lines(QUIET | HIGH_STAKES | L2)
    assert {job.kind for job in lines} == {"attack", "attack_suite", "robustness_curve", "transfer_attack"}
    assert all(job.params["norm"] == "2" for job in lines)
    assert all(job.params["norm"] == "inf" for job in budget_lines(QUIET | HIGH_STAKES))
    unbudgeted = [job for job in recommended_plan(load_bank(), QUIET | L2) if job not in budget_lines(QUIET | L2)]
    assert unbudgeted and all("norm" not in job.params for job in unbudgeted)


def test_a_planned_attack_with_no_form_in_the_projects_norm_keeps_its_own_and_the_plan_says_so(monkeypatch):
    monkeypatch.delitem(ATTACK_PROPERTIES, "pgd_l2")  # an engine whose PGD has no L2 form
    (pgd,) = [job for job in budget_lines(QUIET | L2) if job.params.get("attack") == "pgd"]
    assert pgd.params["norm"] == "2"
    assert any("pgd_linf has no L2 form, so it runs in L∞" in reason for reason in pgd.reasons)
    assert not any("no L2 form" in reason for job in budget_lines(QUIET) for reason in job.reasons)


@pytest.mark.django_db
def test_the_plan_runs_of_an_l2_project_carry_l2_and_its_epsilon(team):
    AssessmentVersion.objects.create(project=team.project, number=1, bank_version=3, answers=QUIET | HIGH_STAKES | L2)
    teacher = make_model(team, "teacher")
    student = make_model(team, "student", parent=teacher)
    plan = model_test_plan_runs(model=student, dataset=make_dataset(team), sample_limit=20)
    attacks = [run for run in plan.runs if "attacks" in run.options]
    assert {run.kind for run in attacks} == {"attack", "attack_suite", "robustness_curve", "transfer_attack"}
    assert all(run.options["norm"] == "2" for run in attacks)
    by_kind = {run.kind: run.options for run in attacks if run.options["attacks"] != ["hopskipjump"]}
    assert by_kind["attack"]["attacks"] == ["pgd_l2"] and by_kind["attack"]["eps"] == 0.5
    assert by_kind["transfer_attack"]["attacks"] == ["pgd_l2"] and by_kind["transfer_attack"]["eps"] == 0.5
    assert by_kind["attack_suite"]["attacks"] == ["fgsm", "pgd_l2", "deepfool", "square"]
    assert by_kind["robustness_curve"]["attacks"] == ["pgd_l2"] and max(by_kind["robustness_curve"]["eps"]) == 1.0
    # The default gate's attack is the plan's PGD L2 line: queued once, not a second time in L∞.
    assert sum(1 for run in attacks if run.kind == "attack" and run.options["attacks"] == ["pgd_l2"]) == 1


def robust_gate(project, model):
    return next(r for r in gates_evaluate(project=project, model=model) if r.gate.kind == GateKind.MIN_ROBUST_ACCURACY)


def untested(project, model):
    return verdict_inputs(project=project, model=model, today=date.today()).tests_not_run


@pytest.mark.django_db
def test_running_the_plan_of_an_l2_project_measures_its_default_l2_gate(team, client_for, trained_cnn):
    from tests.riskapp.artifacts.test_upload import upload_dataset, uploaded_model

    AssessmentVersion.objects.create(project=team.project, number=1, bank_version=3, answers=QUIET | L2)
    assessor = client_for(team.assessor)
    model = uploaded_model(assessor, team, trained_cnn["safetensors"], architecture="cnn-digits", num_classes=10)
    dataset = upload_dataset(assessor, team, trained_cnn["test"])
    assert robust_gate(team.project, model).status == "not measured"
    assert "Evasion attack (PGD L2 at ε 0.5)" in untested(team.project, model)

    started = model_test_plan_start(actor=team.assessor, model=model, dataset=dataset, sample_limit=20)
    (pgd,) = [job for job in started.jobs if job.parameters.get("attacks") == ["pgd_l2"]]
    assert pgd.parameters["norm"] == "2" and pgd.parameters["eps"] == 0.5
    assert job_execute(job_id=pgd.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=pgd.pk).error

    result = robust_gate(team.project, model)
    assert result.gate.is_default and result.gate.params["norm"] == "2"
    assert result.status in ("passed", "failed") and result.job_id == pgd.pk
    # The verdict no longer lists the plan's PGD line as a test not run: the L2 job ran it.
    assert "Evasion attack (PGD L2 at ε 0.5)" not in untested(team.project, model)


@pytest.mark.django_db
def test_the_checklist_counts_a_plan_line_done_only_by_a_job_in_the_projects_norm(team):
    AssessmentVersion.objects.create(project=team.project, number=1, bank_version=3, answers=QUIET | L2)
    model = make_model(team, "student")

    def ran(attack, norm):
        parameters = {"model_id": model.pk, "attacks": [attack], "eps": 0.5, "norm": norm}
        Job.objects.create(project=team.project, kind="attack", status=JobStatus.SUCCEEDED, parameters=parameters)

    def state(attack):
        items = plan_checklist(project=team.project, bank=load_bank(), answers=QUIET | L2)
        return next(item.state for item in items if item.planned.params.get("attack") == attack)

    ran("hopskipjump", "inf")
    assert state("hop_skip_jump") == "not run"  # the same attack in L∞ is another test
    ran("hopskipjump", "2")
    ran("hopskipjump", "inf")  # a newer run in the other norm does not hide the L2 one
    assert state("hop_skip_jump") == "done"
