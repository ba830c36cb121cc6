"""Membership inference and extraction as evidence, gates and result pages, from real engine results
(tests/fixtures/privacy: LiRA on an overfit digits MLP, a cnn-digits victim copied from a public teacher)."""

import copy

import pytest
from django.core.files.base import ContentFile
from django.template.loader import render_to_string

from riskapp.artifacts.models import ModelArtifact
from riskapp.assessments.bank import load_bank
from riskapp.assessments.scoring import score
from riskapp.evaluations.privacy_evidence import (
    extraction_decisive_budget,
    extraction_evidence,
    extraction_measurements,
    membership_inference_evidence,
    membership_inference_measurements,
    privacy_evidence,
)
from riskapp.evaluations.privacy_plan import (
    NO_MEMBERS,
    NO_QUERY_SET,
    NO_TEACHER,
    extraction_plan_options,
    extraction_ran_planned,
    membership_inference_plan_options,
)
from riskapp.evaluations.privacy_results import (
    present_extraction,
    present_membership_inference,
    roc_table,
)
from riskapp.gates.privacy_gates import (
    MAX_EXTRACTION_AGREEMENT,
    MAX_MEMBERSHIP_AUC,
    extraction_agreement_gate,
    membership_auc_gate,
    privacy_gate_describe,
    privacy_gate_params_check,
)
from riskapp.jobs.models import Job, JobStatus


def measured(kind: str, result: dict) -> dict:
    """Evidence as scoring takes it: kind -> {value, measurement}."""
    evidence, measurements = privacy_evidence(kind, result)
    return {k: {"value": v, "measurement": measurements[k]} for k, v in evidence.items()}


# --- evidence ------------------------------------------------------------------------------------------------


def test_membership_evidence_is_the_auc_and_only_the_reported_tpr_levels(membership):
    evidence = membership_inference_evidence(membership)
    assert evidence["membership_auc"] == membership["auc"]["value"]
    assert evidence["membership_tpr_at_1pct_fpr"] == membership["tpr_at_fpr"][0]["tpr"]
    # 1,597 non-members allow one false positive at 0.1 %: the engine does not report it, so it is no evidence.
    assert "membership_tpr_at_0_1pct_fpr" not in evidence


def test_membership_measurements_count_the_smaller_set_for_the_auc_and_the_members_for_a_tpr(membership):
    evidence = membership_inference_evidence(membership)
    measured_as = membership_inference_measurements(membership, evidence)
    assert set(measured_as) == set(evidence)
    assert measured_as["membership_auc"]["samples"] == min(membership["members"], membership["non_members"]) == 200
    assert measured_as["membership_auc"]["ci"] == membership["auc"]["ci"]
    assert measured_as["membership_tpr_at_1pct_fpr"]["samples"] == membership["members"]
    assert measured_as["membership_tpr_at_1pct_fpr"]["shadow_models"] == membership["shadow_models"]["count"]


def test_a_reportable_tpr_at_a_tenth_of_a_percent_becomes_evidence(membership):
    result = copy.deepcopy(membership)
    result["tpr_at_fpr"][1].update(reportable=True, tpr=0.02, ci=[0.01, 0.03])
    assert membership_inference_evidence(result)["membership_tpr_at_0_1pct_fpr"] == 0.02


def test_extraction_evidence_is_the_worst_budget_with_its_budget_as_the_query_count(extraction):
    evidence = extraction_evidence(extraction)
    last = extraction["budgets"][-1]
    assert evidence["extraction_agreement"] == last["agreement"]
    assert evidence["extraction_accuracy_ratio"] == pytest.approx(last["accuracy"] / extraction["victim_accuracy"])
    measured_as = extraction_measurements(extraction, evidence)
    assert measured_as["extraction_agreement"]["queries"] == last["budget"] == 500
    assert measured_as["extraction_agreement"]["samples"] == extraction["data"]["evaluation"]["samples"]
    assert measured_as["extraction_agreement"]["start"] == "public_teacher"


def test_a_smaller_budget_that_agreed_more_decides_the_extraction_evidence(extraction):
    result = copy.deepcopy(extraction)
    result["budgets"][0]["agreement"] = 0.99
    assert extraction_decisive_budget(result)["budget"] == result["budgets"][0]["budget"]
    assert extraction_evidence(result)["extraction_agreement"] == 0.99


def test_results_without_numbers_give_no_evidence():
    assert privacy_evidence("membership_inference", {"auc": None}) == ({}, {})
    assert privacy_evidence("extraction", {"budgets": []}) == ({}, {})
    assert privacy_evidence("attack", {"auc": {"value": 0.9}}) == ({}, {})


# --- the evidence rules on these results -----------------------------------------------------------------------


def test_the_overfit_models_leak_rates_membership_inference_high_whatever_the_answers(membership):
    bank = load_bank()
    risk = score(bank, {}, measured("membership_inference", membership)).risk("membership_inference")
    # AUC 0.65 -> 4 and TPR 0.055 at 1 % FPR -> 4: the worst set rule decides.
    assert risk.current.likelihood == 4
    assert {"membership_auc", "membership_tpr_at_1pct_fpr"} <= set(risk.evidence_used)


def test_a_chance_level_membership_result_on_few_records_lowers_by_one_step_at_most(membership):
    bank = load_bank()
    answers = {"context.who_queries": "anyone", "deployment.api_output": ["full_scores"]}
    before = score(bank, answers).risk("membership_inference").current.likelihood
    chance = copy.deepcopy(membership)
    chance["auc"]["value"] = 0.5
    chance["tpr_at_fpr"][0]["tpr"] = 0.01
    after = score(bank, answers, measured("membership_inference", chance)).risk("membership_inference")
    assert before == 5 and after.current.likelihood == 4  # 200 members: one step, though the bands say 2


def test_a_copy_that_agrees_on_almost_everything_rates_extraction_at_the_top(extraction):
    bank = load_bank()
    risk = score(bank, {"context.who_queries": "batch"}, measured("extraction", extraction)).risk("model_extraction")
    assert risk.current.likelihood == 5


def test_model_inversion_has_no_evidence_rule_and_stays_from_the_answers():
    bank = load_bank()
    assert not [rule for rule in bank.evidence_rules if rule.threat == "model_inversion"]
    assert bank.threat("model_inversion").evidence == ()
    assert "not tested" in bank.threat("model_inversion").description


# --- the plan ---------------------------------------------------------------------------------------------------


def _plan_rules(answers: dict) -> set[str]:
    from riskapp.assessments.plan import recommended_plan

    return {rule for job in recommended_plan(load_bank(), answers) for rule in job.rule_ids}


def test_the_plan_asks_for_membership_inference_when_scores_are_returned_or_the_data_is_personal():
    outside = {"context.who_queries": "customers", "context.data_sensitivity": "internal"}
    assert "membership_inference_when_scores_or_sensitive_data" in _plan_rules(
        outside | {"deployment.api_output": ["full_scores"]}
    )
    assert "membership_inference_when_scores_or_sensitive_data" in _plan_rules(
        outside | {"deployment.api_output": ["label"], "context.data_sensitivity": "special"}
    )
    assert "membership_inference_when_scores_or_sensitive_data" not in _plan_rules(
        outside | {"deployment.api_output": ["label"]}
    )
    assert "membership_inference_when_scores_or_sensitive_data" not in _plan_rules(
        {"context.who_queries": "batch", "deployment.api_output": ["full_scores"]}
    )


def test_the_plan_starts_the_copy_from_the_public_teacher_only_when_there_is_one():
    public = {"context.who_queries": "anyone", "context.uses_pretrained": "yes", "teacher.weights_public": "yes"}
    assert {"extraction_by_queries", "extraction_from_public_teacher"} <= _plan_rules(public)
    private = public | {"teacher.weights_public": "no"}
    assert "extraction_by_queries" in _plan_rules(private)
    assert "extraction_from_public_teacher" not in _plan_rules(private)
    assert not {"extraction_by_queries", "extraction_from_public_teacher"} & _plan_rules(
        public | {"context.who_queries": "batch"}
    )


def test_a_membership_plan_line_needs_a_training_sample_and_enough_records():
    params = {"members": "training", "non_members": "held_out", "shadow_models": 16}
    assert membership_inference_plan_options(params, sample_limit=500, members=0, non_members=900) == (None, NO_MEMBERS)
    options, reason = membership_inference_plan_options(params, sample_limit=500, members=800, non_members=900)
    assert options == {"shadow_models": 16, "sample_limit": 500} and reason == ""
    options, reason = membership_inference_plan_options(params, sample_limit=500, members=800, non_members=10)
    assert options is None and "at least 20" in reason


def test_an_extraction_plan_line_keeps_the_budgets_its_query_set_allows():
    scratch = {"start": "scratch", "budgets": [100, 1000, 10000]}
    assert extraction_plan_options(scratch, query_images=0, has_teacher=True) == (None, NO_QUERY_SET)
    assert extraction_plan_options(scratch, query_images=2000, has_teacher=False) == ({"budgets": [100, 1000]}, "")
    options, reason = extraction_plan_options(scratch, query_images=50, has_teacher=False)
    assert options is None and "smallest budget (100)" in reason
    public = scratch | {"start": "public_teacher"}
    assert extraction_plan_options(public, query_images=2000, has_teacher=False) == (None, NO_TEACHER)
    assert extraction_plan_options(public, query_images=20000, has_teacher=True)[0] == {"budgets": [100, 1000, 10000]}


def test_an_extraction_job_runs_the_plan_line_that_starts_where_it_started():
    scratch = {"start": "scratch", "budgets": [100, 1000, 10000]}
    public = scratch | {"start": "public_teacher"}
    from_teacher = {"budgets": [100, 1000], "copy_weights": "/files/teacher.safetensors"}
    assert extraction_ran_planned(public, from_teacher) and not extraction_ran_planned(scratch, from_teacher)
    assert extraction_ran_planned(scratch, {"budgets": [100]})
    assert not extraction_ran_planned(scratch, {"budgets": [20, 50]})  # never tried the plan's first budget


# --- gates -----------------------------------------------------------------------------------------------------


def test_membership_auc_gate_passes_fails_and_waits_for_a_measurement(membership):
    auc = membership["auc"]["value"]
    assert membership_auc_gate({"threshold": 0.7}, [(3, membership)]).passed is True
    failed = membership_auc_gate({"threshold": 0.55}, [(3, membership)])
    assert failed.passed is False and failed.measured == auc and failed.job_id == 3
    assert f"{auc:.3f}" in failed.message and "above 0.55" in failed.message
    assert membership_auc_gate({"threshold": 0.55}, []).passed is None


def test_extraction_gate_reads_the_latest_result_that_tried_its_budget(extraction):
    newer_without_budget = copy.deepcopy(extraction)
    newer_without_budget["budgets"] = [{"budget": 20, "agreement": 0.1, "accuracy": 0.1}]
    outcome = extraction_agreement_gate({"threshold": 0.9, "budget": 500}, [(9, newer_without_budget), (4, extraction)])
    assert (
        outcome.passed is False and outcome.job_id == 4 and outcome.measured == extraction["budgets"][-1]["agreement"]
    )
    assert extraction_agreement_gate({"threshold": 0.99, "budget": 500}, [(4, extraction)]).passed is True
    waiting = extraction_agreement_gate({"threshold": 0.9, "budget": 1000}, [(4, extraction)])
    assert waiting.passed is None and "1000 queries" in waiting.message


def test_gate_parameters_are_checked_with_messages_a_user_can_act_on():
    assert privacy_gate_params_check(MAX_MEMBERSHIP_AUC, {"threshold": 0.6}) == {"threshold": 0.6}
    assert privacy_gate_params_check(MAX_EXTRACTION_AGREEMENT, {"threshold": 0.8, "budget": 1000}) == {
        "threshold": 0.8,
        "budget": 1000,
    }
    with pytest.raises(ValueError, match="between 0 and 1"):
        privacy_gate_params_check(MAX_MEMBERSHIP_AUC, {"threshold": 1.5})
    with pytest.raises(ValueError, match="whole number of queries"):
        privacy_gate_params_check(MAX_EXTRACTION_AGREEMENT, {"threshold": 0.8, "budget": "lots"})
    assert privacy_gate_describe(MAX_EXTRACTION_AGREEMENT, {"threshold": 0.8, "budget": 1000}) == (
        "extraction agreement ≤ 0.8 after 1000 queries"
    )


# --- result pages ----------------------------------------------------------------------------------------------


def test_the_roc_table_reads_the_curve_at_round_rates_without_repeating_a_point(membership):
    rows = roc_table(membership)
    fprs = [row["fpr"] for row in rows]
    assert fprs == sorted(set(fprs)) and fprs[-1] == 1.0 and rows[-1]["tpr"] == 1.0
    assert all(row["fpr"] >= 1 / membership["non_members"] for row in rows)
    at_one_percent = max((r for r in rows if r["fpr"] <= 0.01), key=lambda r: r["fpr"])
    assert at_one_percent["tpr"] == pytest.approx(membership["tpr_at_fpr"][0]["tpr"], abs=1e-6)


def _job(team, kind: str, result: dict, **parameters) -> Job:
    model, _ = ModelArtifact.objects.get_or_create(
        project=team.project,
        sha256="ab" * 32,
        defaults={
            "name": "student",
            "version": "1",
            "original_name": "student.safetensors",
            "size": 3,
            "file": ContentFile(b"abc", name="m.upload"),
        },
    )
    return Job.objects.create(
        project=team.project,
        kind=kind,
        queue="gpu",
        status=JobStatus.SUCCEEDED,
        parameters={"model_id": model.pk, **parameters},
        result=result,
    )


def _page(context: dict, team, job) -> str:
    return render_to_string(context["template"], {**context, "project": team.project, "job": job})


@pytest.mark.django_db
def test_membership_page_shows_the_numbers_with_intervals_the_roc_and_says_inversion_is_not_tested(team, membership):
    job = _job(team, "membership_inference", membership)
    context = present_membership_inference(job, [])
    page = _page(context, team, job)
    assert context["template"] == "evaluations/membership_inference.html" and context["model"].name == "student"
    assert "membership-roc-figure" in page and context["figure"]["layout"]["xaxis"]["type"] == "log"
    low, high = membership["auc"]["ci"]
    assert f"{membership['auc']['value']:.3f}" in page and f"{low:.3f}–{high:.3f}" in page
    assert "TPR at 1% FPR" in page and "5.5 times chance" in page  # TPR 0.055
    assert "needs at least 5000 non-members" in page  # the 0.1 % level, not reported
    assert "Model inversion: not tested." in page


@pytest.mark.django_db
def test_extraction_page_lists_every_budget_with_its_interval_and_the_public_teachers_head_start(team, extraction):
    job = _job(team, "extraction", extraction)
    context = present_extraction(job, [])
    page = _page(context, team, job)
    assert "extraction-budgets-figure" in page
    for row in context["rows"]:
        assert f"{row['agreement']:.3f}" in page
        low, high = row["agreement_ci"]
        assert low <= row["agreement"] <= high and f"{low:.3f}–{high:.3f}" in page
    assert "starting from the public teacher" in page
    assert f"{extraction['copy']['initial']['agreement']:.3f}" in page
    assert "With 500 queries" in context["extraction_words"]


@pytest.mark.django_db
def test_presenters_show_nothing_for_a_job_that_did_not_succeed_or_another_kind(team, membership, extraction):
    job = _job(team, "membership_inference", membership)
    job.status = JobStatus.FAILED
    assert present_membership_inference(job, []) == {}
    assert present_extraction(_job(team, "membership_inference", membership), []) == {}
