"""The recommended test plan: which jobs the answers call for, with which parameters, and why."""

import pytest

from riskapp.assessments.bank import load_bank
from riskapp.assessments.plan import PlannedJob, recommended_plan

JOB_KINDS = {
    "attack",
    "attack_suite",
    "robustness_curve",
    "transfer_attack",
    "backdoor_scan",
    "data_scan",
    "strip",
    "lineage",
    "validation",
    "membership_inference",
    "extraction",
}

# A project with every plan-relevant question answered so that nothing optional fires.
QUIET = {
    "context.uses_pretrained": "yes",
    "context.security_decision": "no",
    "context.physical_harm": "no",
    "requirements.integrity_need": "moderate",
    "requirements.input_eps": 0.05,
    "teacher.source": "in_house",
    "teacher.weights_public": "no",
    "fine_tuning.layers": "all",
    "fine_tuning.predictable_labels": "no",
    "fine_tuning.data_origin": ["own"],
    "fine_tuning.outsourced": "no",
    "deployment.api_output": ["label"],
    "operation.continual_learning": "no",
    "context.who_queries": "batch",
    "context.data_sensitivity": "internal",
}


@pytest.fixture(scope="module")
def bank():
    return load_bank()


def plan(bank, **changes):
    answers = {**QUIET, **{key.replace("__", "."): value for key, value in changes.items()}}
    return recommended_plan(bank, answers)


def jobs(planned, kind):
    return [job for job in planned if job.kind == kind]


def rules(planned):
    return {rule for job in planned for rule in job.rule_ids}


def test_quiet_project_gets_the_baseline_white_box_attack_and_a_decision_based_attack(bank):
    planned = plan(bank)
    assert rules(planned) == {"clean_baseline", "white_box_pgd", "decision_based_attack"}
    assert all(job.assumed_unknown == () for job in planned)


def test_every_planned_job_is_a_known_job_kind_and_never_an_environment_check(bank):
    for answers in ({}, QUIET):
        for job in recommended_plan(bank, answers):
            assert job.kind in JOB_KINDS
    assert all(rule.job in JOB_KINDS for rule in bank.plan_rules)


def test_api_returning_scores_recommends_a_score_based_square_attack(bank):
    planned = plan(bank, deployment__api_output=["label", "full_scores"])
    square = [job for job in jobs(planned, "attack") if job.params["attack"] == "square"]
    assert len(square) == 1
    assert square[0].params["eps"] == 0.05
    assert square[0].threats == ("evasion_query",)
    assert "score-based" in square[0].reasons[0]
    assert "decision_based_attack" not in rules(planned)


def test_label_only_api_recommends_a_decision_based_attack_instead(bank):
    attacks = {job.params["attack"] for job in jobs(plan(bank), "attack")}
    assert attacks == {"pgd", "hop_skip_jump"}


def test_downloadable_teacher_recommends_a_transfer_attack_from_the_teacher(bank):
    assert jobs(plan(bank), "transfer_attack") == []
    (transfer,) = jobs(plan(bank, teacher__weights_public="yes"), "transfer_attack")
    assert transfer.params == {"source": "teacher", "attack": "pgd", "eps": 0.05, "norm": "inf", "steps": 20}
    assert transfer.threats == ("evasion_transfer",)


def test_teacher_from_a_public_hub_recommends_backdoor_scans_of_teacher_and_student(bank):
    scans = jobs(plan(bank, teacher__source="public_hub"), "backdoor_scan")
    assert sorted(job.params["target"] for job in scans) == ["student", "teacher"]
    assert all(job.params["method"] == "neural_cleanse" for job in scans)
    assert jobs(plan(bank), "backdoor_scan") == []


def test_head_only_fine_tuning_recommends_a_lineage_check(bank):
    (lineage,) = jobs(plan(bank, fine_tuning__layers="head_only"), "lineage")
    assert lineage.params == {"teacher": "teacher", "student": "student"}
    assert set(lineage.threats) == {"evasion_transfer", "backdoor_inherited"}
    assert jobs(plan(bank, fine_tuning__layers="all"), "lineage") == []


def test_epsilon_comes_from_the_stated_input_domain(bank):
    planned = plan(bank, requirements__input_eps=0.01, context__physical_harm="yes")
    assert {job.params["eps"] for job in planned if "eps" in job.params} == {0.01}
    (curve,) = jobs(planned, "robustness_curve")
    assert curve.params["max_eps"] == 0.02  # twice the stated epsilon


def test_epsilon_defaults_to_0_03_when_unanswered(bank):
    answers = {k: v for k, v in QUIET.items() if k != "requirements.input_eps"}
    (pgd,) = [job for job in jobs(recommended_plan(bank, answers), "attack") if job.params["attack"] == "pgd"]
    assert pgd.params["eps"] == 0.03


def test_high_stakes_recommend_a_robustness_curve_and_an_attack_suite(bank):
    planned = plan(bank, requirements__integrity_need="high")
    assert jobs(planned, "robustness_curve") and jobs(planned, "attack_suite")
    (suite,) = jobs(planned, "attack_suite")
    assert suite.params["attacks"] == ["fgsm", "pgd", "deepfool", "square"]


def test_third_party_training_data_recommends_a_data_scan(bank):
    (scan,) = jobs(plan(bank, fine_tuning__data_origin=["own", "web"]), "data_scan")
    assert scan.params["dataset"] == "training"
    assert jobs(plan(bank, fine_tuning__outsourced="yes"), "data_scan")


def test_continual_learning_recommends_feedback_validation_and_a_feedback_scan(bank):
    planned = plan(bank, operation__continual_learning="automatic")
    assert {"feedback_loop_validation", "feedback_data_scan"} <= rules(planned)


def test_no_pretrained_model_means_no_teacher_jobs_whatever_the_stale_teacher_answers_say(bank):
    planned = plan(
        bank,
        context__uses_pretrained="no",
        teacher__weights_public="yes",
        teacher__source="public_hub",
        fine_tuning__layers="head_only",
    )
    kinds = {job.kind for job in planned}
    assert not kinds & {"transfer_attack", "backdoor_scan", "lineage", "strip"}


def test_unknown_answer_recommends_the_test_and_says_what_was_assumed(bank):
    (transfer,) = jobs(plan(bank, teacher__weights_public="unknown"), "transfer_attack")
    assert transfer.assumed_unknown == ("teacher.weights_public",)
    (transfer,) = jobs(recommended_plan(bank, {}), "transfer_attack")
    assert transfer.assumed_unknown == ("context.uses_pretrained", "teacher.weights_public")


def test_identical_jobs_from_two_rules_are_merged_with_both_reasons(bank):
    planned = plan(bank, teacher__source="public_hub", fine_tuning__predictable_labels="yes")
    (student_scan,) = [job for job in jobs(planned, "backdoor_scan") if job.params["target"] == "student"]
    assert student_scan.rule_ids == ("scan_student_for_backdoors", "scan_student_for_latent_backdoors")
    assert len(student_scan.reasons) == 2
    assert student_scan.threats == ("backdoor_inherited", "backdoor_latent")
    assert student_scan.assumed_unknown == ()


def test_a_merged_job_assumes_nothing_when_one_of_its_rules_is_certain(bank):
    planned = plan(bank, teacher__source="public_hub", fine_tuning__predictable_labels="unknown")
    (student_scan,) = [job for job in jobs(planned, "backdoor_scan") if job.params["target"] == "student"]
    assert student_scan.assumed_unknown == ()


def test_plan_is_pure_and_serialisable(bank):
    answers = {**QUIET, "teacher.source": "public_hub"}
    first, second = recommended_plan(bank, answers), recommended_plan(bank, answers)
    assert first == second
    assert answers == {**QUIET, "teacher.source": "public_hub"}
    assert all(isinstance(job, PlannedJob) for job in first)
    data = first[0].as_dict()
    assert set(data) == {"kind", "params", "reasons", "rule_ids", "threats", "assumed_unknown"}
