"""Scoring: hand-computed cases, evidence overrides, and properties that must hold for any answers."""

import shutil
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskapp.assessments.bank import CONTENT_DIR, UNKNOWN, load_bank
from riskapp.assessments.scoring import score
from riskapp.bands import Band

# --- a tiny bank whose arithmetic is easy to follow --------------------------------------------------------------
#
# Threat `t`: seed likelihood 3, impact 2. Threat `u`: seed 1 x 1, moved by nothing.
#   ctx.teacher      yes -> likelihood +2 ; no -> likelihood -1
#   ctx.layers       (only when ctx.teacher = yes) head -> likelihood +1 and impact +1 ; all -> likelihood -1
#   ctx.teacher_scanned  (only when ctx.teacher = yes) control: likelihood -1
#   ctx.stakes       high -> impact +2 ; low -> impact -1
#   ops.scan         control: likelihood -1
#   ops.fallback     control: impact -2
#   ops.hardening    control: likelihood -2
# Evidence: robust_accuracy (set: < 0.5 -> 4, >= 0.5 -> 2; only AutoAttack on 100+ inputs may lower it),
# teacher_similarity (at least: >= 0.9 -> 5).

TINY_QUESTIONS = """
version: 1
option_sets:
  control:
    - {value: "yes", label: "Yes"}
    - {value: planned, label: Planned}
    - {value: "no", label: "No"}
    - {value: unknown, label: "Don't know"}
areas:
  - {id: ctx, title: Context, description: Context.}
  - {id: ops, title: Operation, description: Operation.}
questions:
  - id: ctx.teacher
    area: ctx
    type: yes_no_unknown
    text: Do we fine-tune a teacher?
    help: Help.
    threat_if: ["yes"]
    effects:
      - {threat: t, when: {equals: "yes"}, likelihood: 2}
      - {threat: t, when: {equals: "no"}, likelihood: -1}
    sources: [{framework: OWASP-ML, id: ML07}]
  - id: ctx.layers
    area: ctx
    type: single_choice
    text: Which layers?
    help: Help.
    conditions: [{question: ctx.teacher, equals: "yes"}]
    options:
      - {value: head, label: Head only}
      - {value: all, label: All layers}
      - {value: unknown, label: "Don't know"}
    threat_if: [head]
    effects:
      - {threat: t, when: {equals: head}, likelihood: 1, impact: 1}
      - {threat: t, when: {equals: all}, likelihood: -1}
    sources: [{framework: paper, citation: "Liu et al., Fine-Pruning, RAID 2018"}]
  - id: ctx.teacher_scanned
    area: ctx
    type: single_choice
    text: Is the teacher scanned for backdoors?
    help: Help.
    conditions: [{question: ctx.teacher, equals: "yes"}]
    option_set: control
    threat_if: [planned, "no"]
    effects: [{threat: t, control: {likelihood: 1}}]
    sources: [{framework: ATLAS, id: AML.M0008}]
  - id: ctx.stakes
    area: ctx
    type: single_choice
    text: How bad is a wrong answer?
    help: Help.
    options:
      - {value: low, label: Low}
      - {value: high, label: High}
      - {value: unknown, label: "Don't know"}
    threat_if: [high]
    effects:
      - {threat: t, when: {equals: high}, impact: 2}
      - {threat: t, when: {equals: low}, impact: -1}
    sources: [{framework: NIST-AI-RMF, id: MAP 5.1}]
  - id: ops.scan
    area: ops
    type: single_choice
    text: Scanned?
    help: Help.
    option_set: control
    threat_if: [planned, "no"]
    effects: [{threat: t, control: {likelihood: 1}}]
    sources: [{framework: ATLAS, id: AML.M0008}]
  - id: ops.fallback
    area: ops
    type: single_choice
    text: Fallback?
    help: Help.
    option_set: control
    threat_if: [planned, "no"]
    effects: [{threat: t, control: {impact: 2}}]
    sources: [{framework: NIST-AI-RMF, id: MANAGE 2.4}]
  - id: ops.hardening
    area: ops
    type: single_choice
    text: Hardened?
    help: Help.
    option_set: control
    threat_if: [planned, "no"]
    effects: [{threat: t, control: {likelihood: 2}}]
    sources: [{framework: ATLAS, id: AML.M0003}]
"""

TINY_THREATS = """
version: 1
threats:
  - id: t
    name: Transfer evasion
    description: Test threat.
    atlas: [AML.T0043.002]
    owasp_ml: [ML07]
    nist_ai_100_2: {category: evasion.transferability, objective: integrity}
    cia: [integrity]
    likelihood: 3
    impact: 2
    mitigations: [{atlas: AML.M0003, text: Harden.}]
    evidence: [robust_accuracy, teacher_similarity]
    sources: [{framework: OWASP-ML, id: ML07}]
  - id: u
    name: Untouched
    description: Moved by nothing.
    atlas: [AML.T0029]
    owasp_ml: []
    nist_ai_100_2: {category: null, objective: availability}
    cia: [availability]
    likelihood: 1
    impact: 1
    mitigations: [{text: Nothing.}]
    evidence: []
    sources: [{framework: ATLAS, id: AML.T0029}]
"""

TINY_EVIDENCE = """
version: 1
kinds:
  - {id: robust_accuracy, type: fraction, description: Robust accuracy., produced_by: [attack]}
  - {id: teacher_similarity, type: fraction, description: Similarity., produced_by: [lineage]}
rules:
  - id: t.robust_accuracy
    threat: t
    evidence: robust_accuracy
    mode: set
    bands: [{when: {lt: 0.5}, likelihood: 4}, {when: {gte: 0.5}, likelihood: 2}]
    strength:
      tiers: [{requires: {attacks: [autoattack], min_samples: 100}, lowers_at_most: 4}]
      otherwise: 0
      note: Only AutoAttack on 100 inputs or more may lower the likelihood.
    note: Direct measurement.
  - id: t.teacher_similarity
    threat: t
    evidence: teacher_similarity
    mode: at_least
    bands: [{when: {gte: 0.9}, likelihood: 5}]
    note: Indirect.
"""

TINY_PLAN = """
version: 1
rules:
  - {id: attack_it, when: [], job: attack, params: {attack: pgd, eps: 0.03}, reason: Always., threats: [t]}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny")
    for name, text in (
        ("questions", TINY_QUESTIONS),
        ("threats", TINY_THREATS),
        ("evidence_rules", TINY_EVIDENCE),
        ("test_plan_rules", TINY_PLAN),
    ):
        (directory / f"{name}.yaml").write_text(textwrap.dedent(text))
    shutil.copy(CONTENT_DIR / "known_ids.yaml", directory / "known_ids.yaml")
    return load_bank(directory)


def ratings(register, threat_id="t"):
    risk = register.risk(threat_id)
    return tuple((r.likelihood, r.impact) for r in (risk.inherent, risk.current, risk.projected))


def test_answers_move_inherent_and_controls_move_current_and_projected(tiny):
    register = score(
        tiny,
        {
            "ctx.teacher": "yes",
            "ctx.layers": "head",
            "ctx.stakes": "high",
            "ops.scan": "yes",
            "ops.fallback": "planned",
            "ops.hardening": "no",
        },
    )
    # inherent   L = 3 + 2 (teacher) + 1 (head) = 6 -> clamped to 5 ;  I = 2 + 1 (head) + 2 (high) = 5
    # current    L = 5 - 1 (scan in place) = 4                        ;  I = 5
    # projected  L = 4                                                ;  I = 5 - 2 (fallback planned) = 3
    assert ratings(register) == ((5, 5), (4, 5), (4, 3))
    risk = register.risk("t")
    assert (risk.inherent.score, risk.inherent.band) == (25, "critical")
    assert (risk.current.score, risk.current.band) == (20, "critical")
    assert (risk.projected.score, risk.projected.band) == (12, "high")
    assert ratings(register, "u") == ((1, 1), (1, 1), (1, 1))


def test_unknown_answer_scores_as_worst_case(tiny):
    register = score(tiny, {"ctx.teacher": "unknown"})
    # teacher unknown: worst of (yes +2, no -1) = +2 ; layers may apply, unknown: worst of (head +1/+1, all -1)
    # stakes missing: worst of (high +2, low -1) = +2 ; controls unknown: no credit
    # L = 3 + 2 + 1 = 6 -> 5 ;  I = 2 + 1 + 2 = 5 ; nothing in place or planned
    assert ratings(register) == ((5, 5), (5, 5), (5, 5))
    worst_known = score(tiny, {"ctx.teacher": "yes", "ctx.layers": "head", "ctx.stakes": "high"})
    assert ratings(register) == ratings(worst_known)
    assert set(register.unanswered) == {q.id for q in tiny.questions}


def test_unknown_answer_is_explained_with_the_answer_it_stands_for(tiny):
    # One answer makes the threat assessed; its missing ones (ctx.teacher here) then count as the worst case.
    steps = score(tiny, {"ctx.stakes": "low"}).risk("t").explanations
    teacher = next(s for s in steps if s.question == "ctx.teacher")
    assert teacher.answer == UNKNOWN and teacher.change == 2
    assert "worst case" in teacher.text and "'Yes'" in teacher.text
    assert any(str(source) == "OWASP-ML ML07" for source in teacher.sources)


def test_a_threat_none_of_whose_questions_is_answered_is_not_assessed_yet(tiny):
    register = score(tiny, {})
    risk = register.risk("t")
    assert not risk.assessed and risk.explanations == ()
    for rating in (risk.inherent, risk.current, risk.projected):
        assert (rating.band, rating.score, rating.label) == (Band.NOT_ASSESSED, 0, "not assessed yet")
    # ctx.layers and ctx.teacher_scanned may apply (the teacher is unknown): 7 questions, none answered
    assert (risk.questions, risk.answered, risk.completeness) == (7, 0, "0 of 7 questions answered")
    assert register.not_assessed == ("t",) and register.completeness == "0 of 7 questions answered"
    # A threat no question bears on keeps its catalogue rating: there is nothing to answer.
    assert register.risk("u").assessed and ratings(register, "u") == ((1, 1), (1, 1), (1, 1))


def test_dont_know_still_scores_as_the_worst_case_once_answered(tiny):
    # The same missing questions, but one answered "don't know": the threat is assessed, and scored as the worst.
    register = score(tiny, {"ctx.teacher": "unknown"})
    risk = register.risk("t")
    assert risk.assessed and (risk.current.score, risk.current.band) == (25, "critical")
    assert (risk.answered, register.answered, register.completeness) == (1, 1, "1 of 7 questions answered")
    assert register.not_assessed == ()


def test_hidden_question_has_no_effect(tiny):
    answers = {"ctx.teacher": "no", "ctx.stakes": "low"}
    # L = 3 - 1 (no teacher) = 2 ;  I = 2 - 1 (low stakes) = 1 ; ctx.layers is hidden, whatever it says
    assert ratings(score(tiny, answers)) == ((2, 1), (2, 1), (2, 1))
    assert ratings(score(tiny, {**answers, "ctx.layers": "head"})) == ((2, 1), (2, 1), (2, 1))
    assert "ctx.layers" not in score(tiny, answers).unanswered


def test_question_that_may_apply_counts_only_its_increases(tiny):
    # teacher unknown -> layers may apply; its decrease ("all": -1) is not credited, its increases would be.
    maybe = score(tiny, {"ctx.teacher": "unknown", "ctx.layers": "all", "ctx.stakes": "low"})
    # L = 3 + 2 (teacher worst case) = 5 ;  I = 2 - 1 = 1
    assert ratings(maybe)[0] == (5, 1)
    known = score(tiny, {"ctx.teacher": "yes", "ctx.layers": "all", "ctx.stakes": "low"})
    # L = 3 + 2 - 1 = 4
    assert ratings(known)[0] == (4, 1)


def test_control_that_may_not_apply_gives_no_credit(tiny):
    # With the teacher unknown, "teacher scanned: yes" might be about a teacher we do not have: no credit.
    maybe = score(tiny, {"ctx.teacher": "unknown", "ctx.teacher_scanned": "yes", "ctx.layers": "all"})
    assert ratings(maybe)[1][0] == ratings(maybe)[0][0]
    # Once the teacher is known, the control counts: L = 3 + 2 - 1 (all layers) = 4, current 4 - 1 = 3
    known = score(tiny, {"ctx.teacher": "yes", "ctx.teacher_scanned": "yes", "ctx.layers": "all"})
    assert (ratings(known)[0][0], ratings(known)[1][0]) == (4, 3)


def test_controls_answered_unknown_give_no_credit(tiny):
    base = {"ctx.teacher": "no", "ctx.stakes": "low"}
    assert ratings(score(tiny, {**base, "ops.hardening": "unknown"})) == ((2, 1), (2, 1), (2, 1))
    # hardening in place: current L = 2 - 2 = 0 -> clamped to 1
    assert ratings(score(tiny, {**base, "ops.hardening": "yes"})) == ((2, 1), (1, 1), (1, 1))


def test_controls_stack_and_clamping_is_explained(tiny):
    register = score(tiny, {"ctx.teacher": "no", "ctx.stakes": "high", "ops.scan": "yes", "ops.hardening": "yes"})
    # inherent L = 3 - 1 = 2 ; current L = 2 - 1 - 2 = -1 -> 1 ; I = 2 + 2 = 4 throughout
    assert ratings(register) == ((2, 4), (1, 4), (1, 4))
    clamp = [s for s in register.risk("t").explanations if s.kind == "clamp"]
    assert [(s.stage, s.dimension, s.change) for s in clamp] == [("current", "likelihood", 2)]


def test_explanations_name_question_answer_change_and_sources(tiny):
    steps = score(tiny, {"ctx.teacher": "yes", "ctx.stakes": "high", "ops.fallback": "planned"}).risk("t").explanations
    summary = [(s.stage, s.dimension, s.kind, s.question, s.answer, s.change) for s in steps]
    assert ("inherent", "likelihood", "modifier", "ctx.teacher", "yes", 2) in summary
    assert ("inherent", "impact", "modifier", "ctx.stakes", "high", 2) in summary
    assert ("projected", "impact", "control", "ops.fallback", "planned", -2) in summary
    assert all(s.sources for s in steps if s.kind in ("modifier", "control"))


# --- evidence overrides ------------------------------------------------------------------------------------------

LOW_RISK = {"ctx.teacher": "no", "ctx.stakes": "low", "ops.scan": "yes", "ops.hardening": "planned"}


def test_measured_evidence_replaces_the_current_likelihood(tiny):
    # questionnaire: inherent L = 3 - 1 = 2, current L = 2 - 1 (scan) = 1, projected L = 1 - 2 (hardening) -> 1
    assert ratings(score(tiny, LOW_RISK)) == ((2, 1), (1, 1), (1, 1))
    register = score(tiny, LOW_RISK, {"robust_accuracy": {"value": 0.3, "job": 7}})
    # robust accuracy 0.3 < 0.5 -> current L = 4 ; above inherent 2, so inherent is raised to 4
    # projected L = 4 - 2 (hardening planned) = 2 ; impact untouched
    assert ratings(register) == ((4, 1), (4, 1), (2, 1))
    steps = register.risk("t").explanations
    evidence = [s for s in steps if s.kind == "evidence"]
    assert [(s.stage, s.change) for s in evidence] == [("inherent", 2), ("current", 3)]
    assert "robust_accuracy = 0.3 (job 7) sets likelihood to 4" in evidence[1].text
    assert register.risk("t").evidence_used == ("robust_accuracy",)


STRONG = {"attacks": ["autoattack"], "samples": 500}


def test_good_evidence_can_lower_the_questionnaire_estimate(tiny):
    answers = {"ctx.teacher": "yes", "ctx.layers": "head", "ctx.stakes": "low"}
    # questionnaire: L = 3 + 2 + 1 = 6 -> 5 ; measured robust accuracy 0.8 >= 0.5 sets current L = 2
    register = score(tiny, answers, {"robust_accuracy": {"value": 0.8, "measurement": STRONG}})
    assert ratings(register) == ((5, 2), (2, 2), (2, 2))


def test_good_evidence_that_does_not_say_how_it_was_measured_lowers_nothing(tiny):
    answers = {"ctx.teacher": "yes", "ctx.layers": "head", "ctx.stakes": "low"}
    register = score(tiny, answers, {"robust_accuracy": {"value": 0.8}})
    assert ratings(register) == ratings(score(tiny, answers))
    (step,) = [s for s in register.risk("t").explanations if s.kind == "evidence"]
    assert "strength not reported" in step.text and "at most 0" in step.text


def test_at_least_evidence_only_raises(tiny):
    similar = {"teacher_similarity": {"value": 0.95}}
    assert ratings(score(tiny, LOW_RISK, similar))[1] == (5, 1)  # current L 1 -> at least 5
    worst = {"ctx.teacher": "yes", "ctx.layers": "head"}
    assert ratings(score(tiny, worst, {"teacher_similarity": {"value": 0.5}})) == ratings(score(tiny, worst))


def test_the_worst_evidence_wins_when_several_apply(tiny):
    evidence = {"robust_accuracy": {"value": 0.9}, "teacher_similarity": {"value": 0.99}}
    # robust accuracy sets 2, similarity puts it at least at 5 -> 5
    assert ratings(score(tiny, LOW_RISK, evidence))[1] == (5, 1)


def test_with_one_measurement_per_model_the_worst_model_decides(tiny):
    per_model = {"robust_accuracy": [{"value": 0.9, "model": "student v1"}, {"value": 0.3, "model": "student v2"}]}
    register = score(tiny, LOW_RISK, per_model)
    assert ratings(register)[1] == (4, 1)  # 0.3 sets 4, 0.9 would set 2: the weaker model counts
    texts = [s.text for s in register.risk("t").explanations if s.kind == "evidence" and s.stage == "current"]
    assert any("student v2" in t for t in texts) and any("student v1" in t for t in texts)
    assert ratings(register) == ratings(score(tiny, LOW_RISK, {"robust_accuracy": {"value": 0.3}}))


def test_invalid_and_unknown_evidence_is_ignored_and_reported(tiny):
    register = score(
        tiny,
        LOW_RISK,
        {"robust_accuracy": {"value": 1.7}, "teacher_similarity": 0.9, "made_up": {"value": 1}},
    )
    assert ratings(register) == ratings(score(tiny, LOW_RISK))
    assert len(register.ignored_evidence) == 3
    assert any(message.startswith("made_up") for message in register.ignored_evidence)


# --- bands -------------------------------------------------------------------------------------------------------


def test_band_thresholds_on_the_5x5_matrix():
    assert [Band.for_score(s) for s in (1, 4, 5, 9, 10, 15, 16, 25)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]
    assert {band.value: band.lowest_score for band in Band.rated()} == {
        "critical": 16,
        "high": 10,
        "medium": 5,
        "low": 1,
    }


# --- the real bank, a fully answered case ------------------------------------------------------------------------

# A traffic-sign classifier fine-tuned (head only) from a public-hub teacher: the talk's running example.
TRAFFIC_SIGNS = {
    "context.uses_pretrained": "yes",
    "context.security_decision": "no",
    "context.physical_harm": "yes",
    "context.data_sensitivity": "public",
    "context.model_value": "yes",
    "context.who_queries": "customers",
    "context.automatic_action": "yes",
    "context.motivated_adversary": "no",
    "requirements.integrity_need": "high",
    "requirements.confidentiality_need": "moderate",
    "requirements.availability_need": "high",
    "requirements.input_eps": 0.03,
    "requirements.input_norm": "linf",
    "requirements.robust_accuracy_target": 0.6,
    "requirements.hardening_budget": "yes",
    "requirements.ml_security_skills": "yes",
    "requirements.risk_appetite": "low",
    "teacher.source": "public_hub",
    "teacher.weights_public": "yes",
    "teacher.identity_public": "no",
    "teacher.widely_used": "yes",
    "teacher.model_card": "yes",
    "teacher.format": "safetensors",
    "teacher.pinned": "yes",
    "teacher.scanned": "yes",
    "teacher.backdoor_tested": "planned",
    "teacher.robust": "no",
    "teacher.auto_update": "no",
    "fine_tuning.layers": "head_only",
    "fine_tuning.predictable_labels": "yes",
    "fine_tuning.data_origin": ["own", "public_dataset"],
    "fine_tuning.dataset_size": 5000,
    "fine_tuning.provenance": "yes",
    "fine_tuning.outsourced": "no",
    "fine_tuning.poison_screening": "planned",
    "fine_tuning.adversarial_training": "planned",
    "fine_tuning.backdoor_scan": "planned",
    "fine_tuning.rollback": "yes",
    "infrastructure.dependencies": "yes",
    "infrastructure.write_access": "few",
    "infrastructure.isolated_training": "yes",
    "infrastructure.registry_auth": "yes",
    "infrastructure.signed_models": "planned",
    "infrastructure.safe_loading": "yes",
    "infrastructure.encrypted_at_rest": "yes",
    "infrastructure.training_location": "own_cloud",
    "deployment.api_output": ["label", "rounded_scores"],
    "deployment.weights_on_device": "no",
    "deployment.rate_limits": "yes",
    "deployment.input_checks": "no",
    "deployment.query_cost": "no",
    "deployment.telemetry": "planned",
    "deployment.red_team": "planned",
    "deployment.human_fallback": "no",
    "deployment.output_channel": "yes",
    "deployment.shared_output_store": "no",
    "operation.continual_learning": "no",
    "operation.drift_monitoring": "yes",
    "operation.incident_playbook": "planned",
    "operation.upstream_watch": "yes",
    "operation.stress_testing": "planned",
    "operation.risk_owner": "Head of perception safety",
    "operation.next_review": "2026-06-30",
}


@pytest.fixture(scope="module")
def bank():
    return load_bank()


def test_traffic_sign_case_has_no_unknown_answers(bank):
    assert score(bank, TRAFFIC_SIGNS).unanswered == ()


def test_traffic_sign_case_transfer_evasion_by_hand(bank):
    risk = score(bank, TRAFFIC_SIGNS).risk("evasion_transfer")
    # likelihood: seed 3 + 1 (uses a teacher) + 2 (weights public) + 1 (widely used) + 2 (head only) = 9 -> 5
    # impact:     seed 3 + 2 (physical harm) + 1 (automatic action) + 1 (integrity need high) = 7 -> 5
    # no evasion control in place; planned: adversarial training, red team, stress testing: 5 - 3 = 2
    assert (risk.inherent.likelihood, risk.inherent.impact) == (5, 5)
    assert (risk.current.likelihood, risk.current.impact) == (5, 5)
    assert (risk.projected.likelihood, risk.projected.impact) == (2, 5)
    assert (risk.current.band, risk.projected.band) == ("critical", "high")


def test_traffic_sign_case_model_extraction_by_hand(bank):
    risk = score(bank, TRAFFIC_SIGNS).risk("model_extraction")
    # likelihood: seed 4, customers and rounded scores move nothing; impact: seed 2 + 1 (model is valuable) = 3
    # current: rate limits in place, 4 - 1 = 3 ; projected: telemetry planned, 3 - 1 = 2
    assert (risk.inherent.likelihood, risk.inherent.impact) == (4, 3)
    assert (risk.current.likelihood, risk.current.impact) == (3, 3)
    assert (risk.projected.likelihood, risk.projected.impact) == (2, 3)
    assert [risk.inherent.band, risk.current.band, risk.projected.band] == ["high", "medium", "medium"]


def test_traffic_sign_case_transfer_evidence_by_hand(bank):
    evidence = {"transfer_success_rate": {"value": 0.42, "job": 17}, "teacher_similarity": {"value": 0.97}}
    risk = score(bank, TRAFFIC_SIGNS, evidence).risk("evasion_transfer")
    # 0.42 >= 0.3 sets current likelihood 4 ; similarity 0.97 >= 0.9 puts it at least at 4 -> 4
    # projected: 4 - 3 planned controls = 1 ; inherent stays 5 (evidence is below it)
    assert (risk.inherent.likelihood, risk.current.likelihood, risk.projected.likelihood) == (5, 4, 1)
    assert risk.evidence_used == ("transfer_success_rate", "teacher_similarity")


def test_the_worked_example_in_the_docs_matches_the_code(bank):
    docs = Path(__file__).resolve().parents[3] / "docs" / "risk-scoring.md"
    table = docs.read_text().split("### The whole register", 1)[1].split("\n\n", 2)[1]
    rows = [line.strip("|").split("|") for line in table.splitlines()[2:]]
    documented = {name.strip(): [cell.strip() for cell in cells] for name, *cells in rows}
    for risk in score(bank, TRAFFIC_SIGNS):
        expected = [
            f"{r.likelihood} × {r.impact} = {r.score} {r.band}" for r in (risk.inherent, risk.current, risk.projected)
        ]
        assert documented.pop(risk.threat.name) == expected, risk.threat.id
    assert documented == {}


# --- properties over the real bank -------------------------------------------------------------------------------

_BANK = load_bank()
_MISSING = object()
_CONTROL_QUESTIONS = [q for q in _BANK.questions if q.is_control]


def known_answers(question):
    """Any valid, known answer to the question."""
    if question.type in ("yes_no_unknown", "single_choice"):
        return st.sampled_from(question.known_option_values)
    if question.type == "multiple_choice":
        return st.lists(st.sampled_from(question.known_option_values), unique=True)
    if question.type == "number":
        low = question.minimum if question.minimum is not None else 0
        high = question.maximum if question.maximum is not None else 100_000
        return st.one_of(st.integers(int(low), int(high)), st.floats(low, high, allow_nan=False))
    if question.type == "date":
        return st.dates().map(str)
    return st.text(min_size=1, max_size=20)


def any_answer(question):
    return st.one_of(st.just(_MISSING), st.just(UNKNOWN), st.none(), known_answers(question))


answer_sets = st.fixed_dictionaries({q.id: any_answer(q) for q in _BANK.questions}).map(
    lambda drawn: {k: v for k, v in drawn.items() if v is not _MISSING}
)

_EVIDENCE_VALUES = {
    "fraction": st.floats(0, 1),
    "bool": st.booleans(),
    "count": st.integers(0, 5),
    "number": st.floats(0, 6, allow_nan=False),
}
# How a measurement was made, as jobs record it: any strength, from none reported to AutoAttack on many inputs.
_MEASUREMENTS = st.fixed_dictionaries(
    {},
    optional={
        "attacks": st.lists(st.sampled_from(["fgsm", "pgd_linf", "autoattack", "square"]), min_size=1, unique=True),
        "steps": st.integers(1, 1000),
        "queries": st.integers(1, 20_000),
        "samples": st.integers(1, 10_000),
        "clean_accuracy": st.floats(0, 1),
        "full_scan": st.booleans(),
    },
)


def _evidence_item(kind_type):
    value = _EVIDENCE_VALUES[kind_type]
    return st.one_of(
        value.map(lambda v: {"value": v}),
        st.tuples(value, _MEASUREMENTS).map(lambda pair: {"value": pair[0], "measurement": pair[1]}),
    )


evidence_sets = st.fixed_dictionaries(
    {},
    optional={k.id: _evidence_item(k.type) for k in _BANK.evidence_kinds},
)


def questions_in(condition):
    """Ids of the questions a (built) condition tests."""
    if condition is None:
        return set()
    if condition.kind == "test":
        return {condition.question_id}
    return set().union(*(questions_in(item) for item in condition.items))


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STAGES = ("inherent", "current", "projected")


def not_higher(lower, higher):
    """Every rating in register `lower` is at most the same rating in register `higher`. A threat not assessed
    yet on either side has no rating to compare (leaving every question of it unanswered is not a "better" answer:
    it is no answer)."""
    for low, high in zip(lower.risks, higher.risks, strict=True):
        if not (low.assessed and high.assessed):
            continue
        for stage in STAGES:
            a, b = getattr(low, stage), getattr(high, stage)
            if a.likelihood > b.likelihood or a.impact > b.impact:
                return f"{low.threat.id} {stage}: {a} > {b}"
    return None


@PROPERTY
@given(answers=answer_sets, evidence=evidence_sets)
def test_ratings_stay_within_1_to_5_for_any_answers(answers, evidence):
    for risk in score(_BANK, answers, evidence):
        for rating in (risk.inherent, risk.current, risk.projected):
            assert 1 <= rating.likelihood <= 5 and 1 <= rating.impact <= 5
            if not rating.assessed:
                assert (rating.score, rating.band) == (0, Band.NOT_ASSESSED)
                continue
            assert rating.score == rating.likelihood * rating.impact
            assert rating.band == Band.for_score(rating.score)


@PROPERTY
@given(answers=answer_sets, evidence=evidence_sets)
def test_projected_is_never_above_current_and_current_never_above_inherent(answers, evidence):
    for risk in score(_BANK, answers, evidence):
        assert risk.projected.likelihood <= risk.current.likelihood <= risk.inherent.likelihood
        assert risk.projected.impact <= risk.current.impact <= risk.inherent.impact


@PROPERTY
@given(answers=answer_sets, evidence=evidence_sets, question=st.sampled_from(_CONTROL_QUESTIONS))
def test_answering_a_control_yes_never_raises_a_risk(answers, evidence, question):
    with_yes = score(_BANK, {**answers, question.id: "yes"}, evidence)
    for alternative in ("no", UNKNOWN, None):
        problem = not_higher(with_yes, score(_BANK, {**answers, question.id: alternative}, evidence))
        assert problem is None, f"{question.id}=yes vs {alternative}: {problem}"


@PROPERTY
@given(answers=answer_sets, evidence=evidence_sets, data=st.data())
def test_unknown_never_scores_better_than_any_known_answer(answers, evidence, data):
    question = data.draw(st.sampled_from(_BANK.questions))
    known = data.draw(known_answers(question))
    with_unknown = score(_BANK, {**answers, question.id: UNKNOWN}, evidence)
    with_known = score(_BANK, {**answers, question.id: known}, evidence)
    problem = not_higher(with_known, with_unknown)
    assert problem is None, f"{question.id}={known!r} scored above unknown: {problem}"


_GATES = sorted({qid for q in _BANK.questions for qid in questions_in(q.requires)})


@PROPERTY
@given(answers=answer_sets, evidence=evidence_sets, data=st.data())
def test_an_unknown_gate_question_never_scores_better_than_a_known_one(answers, evidence, data):
    # Questions that decide whether others apply are where "unknown" is easiest to get wrong.
    question = _BANK.question(data.draw(st.sampled_from(_GATES)))
    known = data.draw(known_answers(question))
    with_unknown = score(_BANK, {**answers, question.id: UNKNOWN}, evidence)
    with_known = score(_BANK, {**answers, question.id: known}, evidence)
    problem = not_higher(with_known, with_unknown)
    assert problem is None, f"{question.id}={known!r} scored above unknown: {problem}"


@PROPERTY
@given(answers=answer_sets)
def test_explanations_add_up_to_the_ratings(answers):
    for risk in score(_BANK, answers):
        threat = risk.threat
        for dimension in ("likelihood", "impact"):
            start = getattr(threat, dimension)
            for stage in STAGES:
                total = sum(s.change for s in risk.explanations if s.stage == stage and s.dimension == dimension)
                value = getattr(getattr(risk, stage), dimension)
                assert start + total == value, (threat.id, stage, dimension)
                start = value


_NEED_A_TEACHER = [q.id for q in _BANK.questions if "context.uses_pretrained" in questions_in(q.requires)]


@PROPERTY
@given(answers=answer_sets, other=answer_sets)
def test_hidden_questions_have_no_effect(answers, other):
    no_teacher = {k: v for k, v in answers.items() if k not in _NEED_A_TEACHER}
    no_teacher["context.uses_pretrained"] = "no"
    varied = {**no_teacher, **{k: other[k] for k in _NEED_A_TEACHER if k in other}}
    first, second = score(_BANK, no_teacher), score(_BANK, varied)
    assert [(r.inherent, r.current, r.projected) for r in first] == [
        (r.inherent, r.current, r.projected) for r in second
    ]


def test_a_new_empty_project_has_no_critical_risk_and_nothing_assessed(bank):
    register = score(bank, {})
    assert [risk.current.band for risk in register] == [Band.NOT_ASSESSED] * len(bank.threats)
    assert register.answered == 0 and register.questions > 0
    assert register.completeness == f"0 of {register.questions} questions answered"


def test_every_question_answered_dont_know_scores_the_worst_case(bank):
    dont_know = score(bank, {q.id: UNKNOWN for q in bank.questions})
    assert dont_know.not_assessed == () and dont_know.answered == dont_know.questions
    critical = [risk.threat.id for risk in dont_know if risk.current.band == "critical"]
    assert len(critical) >= len(bank.threats) - 1  # the worst case, as before: "don't know" is no excuse


def test_score_does_not_change_the_answers_it_is_given(bank):
    answers = dict(TRAFFIC_SIGNS)
    score(bank, answers, {"robust_accuracy": {"value": 0.5}})
    assert answers == TRAFFIC_SIGNS
