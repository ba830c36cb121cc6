"""A saved robust-accuracy gate has a norm (the project's unless the owner chooses one): the form and the API take
it, refuse an attack that has no form in it, the gate says it, counts only results in it and runs its attack in it."""

import pytest
from django.urls import reverse

from riskapp.assessments.models import AssessmentVersion
from riskapp.assessments.plan_runs import model_test_plan_runs
from riskapp.gates.forms import GateForm
from riskapp.gates.models import GateKind, QualityGate
from tests.riskapp.gates.test_gates import finished, make_dataset, make_model, saved_gates

pytestmark = pytest.mark.django_db

FGSM = {"kind": "min_robust_accuracy", "attack": "fgsm", "eps": "0.5", "threshold": "0.6"}
FGSM_L2 = {"attack": "fgsm", "eps": 0.5, "norm": "2", "threshold": 0.6}


def l2_project(team):
    answers = {"requirements.input_eps": 0.5, "requirements.input_norm": "l2"}
    AssessmentVersion.objects.create(project=team.project, number=1, bank_version=3, answers=answers)


def fgsm_result(norm, robust):
    row = {"attack": "fgsm", "eps": 0.5, "eps_bounded": True, "norm": norm, "robust_accuracy": robust}
    return {"trustworthy": True, "attacks": [row]}


def test_the_form_takes_a_norm_defaults_to_the_projects_and_refuses_an_attack_without_that_form():
    form = GateForm(data=FGSM, project_norm="2")
    assert form.is_valid() and form.params()["norm"] == "2"
    form = GateForm(data=FGSM | {"norm": "inf"}, project_norm="2")
    assert form.is_valid() and form.params()["norm"] == "inf"
    form = GateForm(data=FGSM | {"attack": "pgd_linf"}, project_norm="2")
    assert not form.is_valid()
    assert form.errors["attack"] == [
        "pgd_linf measures only in L∞, so it cannot measure an L2 gate; choose one of autoattack, fgsm, pgd_l2, square."
    ]
    assert not GateForm(data=FGSM | {"norm": "1"}).is_valid()
    transfer = GateForm(data={"kind": "max_transfer_success", "threshold": "0.2", "norm": "2"})
    assert transfer.is_valid() and transfer.params() == {"threshold": 0.2}  # only a robust-accuracy gate has one


def test_the_gate_says_its_norm_when_its_attack_does_not():
    gate = QualityGate(kind=GateKind.MIN_ROBUST_ACCURACY, params={"attack": "fgsm", "eps": 0.5, "norm": "2"})
    assert gate.describe() == "robust accuracy ≥ None under fgsm at L2 ε 0.5"
    gate.params = {"attack": "pgd_l2", "eps": 0.5, "norm": "2", "threshold": 0.6}
    assert gate.describe() == "robust accuracy ≥ 0.6 under pgd_l2 at ε 0.5"  # the attack's name says L2


def test_owner_saves_a_gate_in_the_projects_norm_and_the_page_says_so(team, client_for):
    l2_project(team)
    owner = client_for(team.owner)
    response = owner.post(reverse("projects:gates:create", args=[team.project.pk]), FGSM | {"enabled": "on"})
    gate = QualityGate.objects.get()
    assert response.status_code == 302 and gate.params["norm"] == "2"
    page = owner.get(reverse("projects:gates:list", args=[team.project.pk])).content.decode()
    assert "robust accuracy ≥ 0.6 under fgsm at L2 ε 0.5" in page
    response = owner.post(reverse("projects:gates:create", args=[team.project.pk]), FGSM | {"attack": "pgd_linf"})
    assert response.status_code == 400 and "pgd_linf measures only in L∞" in response.content.decode()


def test_editing_a_gate_saved_before_gates_had_a_norm_keeps_the_norm_it_was_measured_in(team, client_for):
    l2_project(team)
    gate = QualityGate.objects.create(
        project=team.project, kind=GateKind.MIN_ROBUST_ACCURACY, params={"attack": "fgsm", "eps": 0.5, "threshold": 0.6}
    )
    form = client_for(team.owner).get(reverse("projects:gates:edit", args=[team.project.pk, gate.pk])).context["form"]
    assert form["norm"].value() == "inf"


def test_the_api_takes_a_norm_and_refuses_an_attack_without_that_form(team, api_for):
    l2_project(team)
    api = api_for(team.owner)
    url = f"/api/v1/projects/{team.project.pk}/gates/create/"
    params = {"attack": "autoattack", "eps": 0.5, "threshold": 0.6}
    response = api.post(url, {"kind": "min_robust_accuracy", "params": params}, format="json")
    assert response.status_code == 201 and response.json()["params"]["norm"] == "2"
    assert response.json()["description"] == "robust accuracy ≥ 0.6 under autoattack at L2 ε 0.5"
    response = api.post(url, {"kind": "min_robust_accuracy", "params": params | {"norm": "inf"}}, format="json")
    assert response.status_code == 201 and response.json()["params"]["norm"] == "inf"
    response = api.post(
        url, {"kind": "min_robust_accuracy", "params": params | {"attack": "pgd_l2", "norm": "inf"}}, format="json"
    )
    assert response.status_code == 400
    assert "pgd_l2 measures only in L2" in response.json()["params"]["attack"][0]


def test_a_saved_gate_counts_only_results_in_its_norm(team):
    model = make_model(team)
    QualityGate.objects.create(project=team.project, kind=GateKind.MIN_ROBUST_ACCURACY, params=FGSM_L2)
    linf = finished(team, model, "attack", fgsm_result("inf", 0.9))
    [result] = saved_gates(team.project, model)
    assert result.passed is None and f"job {linf.pk} was measured in L∞" in result.message
    l2 = finished(team, model, "attack", fgsm_result("2", 0.4))
    [result] = saved_gates(team.project, model)
    assert (result.passed, result.measured, result.job_id) == (False, 0.4, l2.pk)


def test_running_the_plan_runs_a_saved_gates_attack_in_the_gates_norm(team):
    model = make_model(team)
    QualityGate.objects.create(project=team.project, kind=GateKind.MIN_ROBUST_ACCURACY, params=FGSM_L2)
    plan = model_test_plan_runs(model=model, dataset=make_dataset(team), sample_limit=20)
    fgsm = [run.options for run in plan.runs if run.options.get("attacks") == ["fgsm"]]
    assert fgsm == [{"sample_limit": 20, "attacks": ["fgsm"], "eps": 0.5, "norm": "2"}]


def test_a_new_gate_offers_the_projects_norm_first_and_an_edited_one_keeps_its_own(team, client_for):
    l2_project(team)
    form = GateForm(project_norm="2")
    assert form.fields["norm"].choices == [("", "The project's norm (L2)"), ("inf", "L∞"), ("2", "L2")]
    assert '<option value="" selected>The project&#x27;s norm (L2)</option>' in str(form["norm"])
    page = client_for(team.owner).get(reverse("projects:gates:list", args=[team.project.pk])).content.decode()
    assert '<option value="" selected>The project&#x27;s norm (L2)</option>' in page
    saved = QualityGate(kind=GateKind.MIN_ROBUST_ACCURACY, params=FGSM_L2 | {"norm": "inf"})
    edited = GateForm(initial=GateForm.initial_for(saved), project_norm="2")
    assert '<option value="inf" selected>L∞</option>' in str(edited["norm"])
