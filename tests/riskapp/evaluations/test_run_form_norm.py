"""The run form's norm: an attack, a suite, a curve or a transfer attack run by hand measures in the project's
norm unless the user picks the other; an attack fixed in the other norm is refused, on the page and the API."""

import pytest

from riskapp.assessments.models import AssessmentVersion
from riskapp.evaluations.forms import EvaluationForm
from riskapp.jobs.models import Job
from tests.riskapp.artifacts.test_upload import url
from tests.riskapp.gates.test_gate_norms import l2_project
from tests.riskapp.gates.test_gates import make_dataset, make_model

pytestmark = pytest.mark.django_db

PGD_LINF_IN_L2 = (
    "pgd_linf measures only in L∞, so it cannot run in L2; "
    "choose one of autoattack, cw_l2, deepfool, fgsm, hopskipjump, pgd_l2, square."
)


@pytest.fixture
def l2_model(team):
    l2_project(team)
    return make_model(team), make_dataset(team)


def test_the_run_form_starts_at_the_projects_norm_and_its_form_of_pgd(team, l2_model):
    model, _ = l2_model
    form = EvaluationForm(model=model)
    assert (form.fields["norm"].initial, form.fields["attack"].initial) == ("2", "pgd_l2")
    readers = dict((field.name, kinds) for field, kinds in form.fields_for_page())
    assert set(readers["norm"].split()) == {"attack", "attack_suite", "robustness_curve", "transfer_attack"}
    AssessmentVersion.objects.all().delete()  # an unanswered norm is L∞
    form = EvaluationForm(model=model)
    assert (form.fields["norm"].initial, form.fields["attack"].initial) == ("inf", "pgd_linf")


def test_a_test_run_by_hand_on_an_l2_project_is_queued_in_l2(team, client_for, l2_model):
    model, dataset = l2_model
    assessor = client_for(team.assessor)
    page = assessor.get(url("model", team, model_id=model.pk)).content.decode()
    assert '<option value="2" selected>L2</option>' in page
    common = {"dataset": dataset.pk, "sample_limit": 50}
    assessor.post(
        url("model_evaluate", team, model_id=model.pk),
        common | {"kind": "attack", "attack": "pgd_l2", "eps": "0.5", "norm": "2"},
    )
    assessor.post(url("model_evaluate", team, model_id=model.pk), common | {"kind": "attack_suite", "eps": "0.5"})
    assessor.post(
        url("model_evaluate", team, model_id=model.pk),
        common | {"kind": "robustness_curve", "eps": "0.25,0.5", "norm": ""},
    )
    queued = {job.kind: job.parameters for job in Job.objects.all()}
    assert queued["attack"]["norm"] == "2" and queued["attack"]["attacks"] == ["pgd_l2"]
    assert queued["attack_suite"]["norm"] == "2" and queued["attack_suite"]["attacks"] == ["fgsm", "pgd_l2", "square"]
    assert queued["robustness_curve"]["norm"] == "2" and queued["robustness_curve"]["attacks"] == ["pgd_l2"]


def test_an_attack_fixed_in_the_other_norm_is_refused_with_the_ones_that_can(team, client_for, l2_model):
    model, dataset = l2_model
    data = {
        "kind": "attack",
        "dataset": dataset.pk,
        "attack": "pgd_linf",
        "eps": "0.5",
        "norm": "2",
        "sample_limit": 50,
    }
    form = EvaluationForm(data=data, model=model)
    assert not form.is_valid() and form.errors["attack"] == [PGD_LINF_IN_L2]
    assert EvaluationForm(data=data | {"norm": "inf", "eps": "0.03"}, model=model).is_valid()
    assessor = client_for(team.assessor)
    response = assessor.post(url("model_evaluate", team, model_id=model.pk), data, follow=True)
    assert not Job.objects.exists() and "pgd_linf measures only in L∞" in response.content.decode()
