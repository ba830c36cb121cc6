"""Measured evidence lowers a likelihood only as far as its strength justifies (docs/risk-scoring.md).

With no answers, a threat that evidence speaks to is assessed and starts at likelihood 5 (unanswered questions are
then the worst case), so each test reads how far one measurement brings it down."""

from pathlib import Path

import pytest

from riskapp.assessments.bank import load_bank
from riskapp.assessments.scoring import score

DOCS = Path(__file__).resolve().parents[3] / "docs" / "risk-scoring.md"


@pytest.fixture(scope="module")
def bank():
    return load_bank()


def current(bank, threat_id, evidence):
    return score(bank, {}, evidence).risk(threat_id).current.likelihood


def measured(value, **measurement):
    return {"value": value, "measurement": measurement}


def test_with_every_answer_dont_know_the_measured_threats_start_at_the_top(bank):
    register = score(bank, {question.id: "unknown" for question in bank.questions})
    for threat in ("evasion_white_box", "evasion_query", "evasion_transfer", "backdoor_inherited", "backdoor_latent"):
        assert register.risk(threat).current.likelihood == 5, threat


def test_a_100_query_square_run_does_not_drop_query_evasion_to_the_floor(bank):
    weak = measured(0.95, attacks=["square"], queries=100, samples=500)
    assert current(bank, "evasion_query", {"query_robust_accuracy": weak}) == 4
    # The same robust accuracy under the budget of AutoAttack's own Square stage is strong evidence.
    strong = measured(0.95, attacks=["square"], queries=5000, samples=500)
    assert current(bank, "evasion_query", {"query_robust_accuracy": strong}) == 1


def test_pgd_20_instead_of_autoattack_lowers_white_box_evasion_by_one_step_at_most(bank):
    pgd = measured(0.85, attacks=["pgd_linf"], steps=20, samples=500, clean_accuracy=0.99)
    assert current(bank, "evasion_white_box", {"robust_accuracy": pgd}) == 4
    autoattack = measured(0.85, attacks=["autoattack"], samples=500, clean_accuracy=0.99)
    assert current(bank, "evasion_white_box", {"robust_accuracy": autoattack}) == 1


def test_a_suite_is_as_strong_as_its_strongest_attack(bank):
    suite = measured(0.85, attacks=["fgsm", "pgd_linf", "autoattack"], steps=10, samples=500, clean_accuracy=0.99)
    assert current(bank, "evasion_white_box", {"robust_accuracy": suite}) == 1


def test_a_single_negative_neural_cleanse_does_not_drop_a_backdoor_to_the_floor(bank):
    scan = {"steps": 600, "full_scan": True, "samples": 1000}
    clean = {"backdoor_flagged": measured(False, **scan), "backdoor_anomaly_index": measured(1.1, **scan)}
    # A full scan (every class fully optimised) lowers by two steps, never to the rule's floor of 2.
    assert current(bank, "backdoor_latent", clean) == 3
    assert current(bank, "backdoor_inherited", clean) == 3
    screened = {kind: measured(item["value"], **(scan | {"full_scan": False})) for kind, item in clean.items()}
    assert current(bank, "backdoor_latent", screened) == 4


def test_a_flagged_scan_raises_whatever_its_strength(bank):
    flagged = {"backdoor_flagged": {"value": True}}
    assert score(bank, {"context.uses_pretrained": "no"}, flagged).risk("backdoor_latent").current.likelihood == 5


def test_evidence_of_unknown_strength_can_raise_but_never_lower(bank):
    assert current(bank, "evasion_white_box", {"robust_accuracy": {"value": 0.95}}) == 5
    low_risk = {"context.who_queries": "batch", "context.motivated_adversary": "no", "deployment.rate_limits": "yes"}
    before = score(bank, low_risk).risk("evasion_query").current.likelihood
    after = score(bank, low_risk, {"query_robust_accuracy": {"value": 0.05}}).risk("evasion_query").current
    assert before < 5 and after.likelihood == 5


def test_a_near_clean_robust_accuracy_from_a_gradient_attack_asks_for_autoattack_instead_of_lowering(bank):
    masked = measured(0.97, attacks=["pgd_linf"], steps=20, samples=500, clean_accuracy=0.98)
    register = score(bank, {}, {"robust_accuracy": masked})
    assert register.risk("evasion_white_box").current.likelihood == 5
    (request,) = register.requests
    assert "AutoAttack" in request and "evasion_white_box" in request
    assert register.risk("evasion_white_box").requests == (request,)
    # AutoAttack itself is not suspected of masking: the same number from it lowers the risk.
    checked = measured(0.97, attacks=["autoattack"], samples=500, clean_accuracy=0.98)
    register = score(bank, {}, {"robust_accuracy": checked})
    assert register.risk("evasion_white_box").current.likelihood == 1 and register.requests == ()


def test_few_samples_lower_only_as_far_as_the_pessimistic_end_of_the_wilson_interval(bank):
    # 0.62 robust under AutoAttack is band 2; on 500 inputs its 95% Wilson interval reaches down to 0.577, band 3.
    some = measured(0.62, attacks=["autoattack"], samples=500, clean_accuracy=0.9)
    assert current(bank, "evasion_white_box", {"robust_accuracy": some}) == 3
    # On 5,000 inputs the interval (down to 0.607) stays in band 2.
    many = measured(0.62, attacks=["autoattack"], samples=5000, clean_accuracy=0.9)
    assert current(bank, "evasion_white_box", {"robust_accuracy": many}) == 2
    # 20 of 20 inputs is a smoke test, not a measurement: under 100 inputs even AutoAttack lowers nothing.
    tiny = measured(1.0, attacks=["autoattack"], samples=20, clean_accuracy=1.0)
    assert current(bank, "evasion_white_box", {"robust_accuracy": tiny}) == 5


def test_a_weak_measurement_is_explained_with_what_limited_it(bank):
    weak = measured(0.95, attacks=["square"], queries=100, samples=500)
    register = score(bank, {}, {"query_robust_accuracy": weak | {"job": 12}})
    (step,) = [s for s in register.risk("evasion_query").explanations if s.kind == "evidence"]
    assert step.change == -1
    assert "(job 12)" in step.text and "at most 1" in step.text and "100 queries" in step.text
    assert "{" not in step.text  # the strength is described in words, not dumped as data


def test_wilson_interval_matches_the_published_formula():
    from riskapp.assessments.scoring import wilson_interval

    low, high = wilson_interval(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    low, high = wilson_interval(0, 10)
    assert (round(low, 4), round(high, 4)) == (0.0, 0.2775)
    low, high = wilson_interval(10, 10)
    assert (round(low, 4), round(high, 4)) == (0.7225, 1.0)


def test_every_rule_that_can_lower_a_likelihood_documents_its_strength_in_the_data_and_the_docs(bank):
    docs = DOCS.read_text()
    for rule in bank.evidence_rules:
        if rule.mode == "set":
            assert rule.strength is not None and rule.strength.note.strip(), rule.id
            assert f"`{rule.id}`" in docs, f"docs/risk-scoring.md does not explain {rule.id}"
        else:
            assert rule.strength is None, rule.id  # at_least never lowers, so it has nothing to cap
