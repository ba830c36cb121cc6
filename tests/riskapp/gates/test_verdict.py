"""The ship verdict as a pure function: each status, each reason, and words a manager can act on."""

import datetime
import re

from riskapp.gates.verdict import (
    ACCEPTED_RISKS,
    DO_NOT_SHIP,
    MAX_REASONS,
    READY,
    BackdoorFlag,
    GateCheck,
    RiskAboveAppetite,
    VerdictInputs,
    ship_verdict,
)

TODAY = datetime.date(2026, 12, 3)
PASSING = GateCheck("min_robust_accuracy", "robust accuracy ≥ 0.6 under pgd_linf at ε 0.03", True, "0.710 meets 0.6")


def inputs(**changes) -> VerdictInputs:
    base = {"model": "student v2", "risk_appetite": "medium", "today": TODAY, "gates": (PASSING,)}
    return VerdictInputs(**(base | changes))


def kinds(verdict) -> list[str]:
    return [reason.kind for reason in verdict.reasons]


def test_a_version_that_passes_everything_is_ready_to_ship():
    verdict = ship_verdict(inputs())
    assert verdict.status == READY and verdict.label == "Ready to ship"
    assert kinds(verdict) == ["gates_pass", "tests_done", "within_appetite"]
    assert "1 release gate passes on student v2" in verdict.reasons[0].text


def test_accepted_risks_above_the_appetite_ship_with_accepted_risks():
    risk = RiskAboveAppetite("Inherited backdoor", "high", True, "alice", TODAY + datetime.timedelta(days=30))
    verdict = ship_verdict(inputs(risks=(risk,)))
    assert verdict.status == ACCEPTED_RISKS and verdict.label == "Ship with accepted risks"
    assert kinds(verdict)[0] == "accepted_risk"
    assert "Inherited backdoor (owner alice, until 2027-01-02)" in verdict.reasons[0].text
    assert "2027-01-02" in verdict.reasons[0].next_step


def test_a_failed_gate_blocks_the_version():
    failed = GateCheck("min_robust_accuracy", "robust accuracy ≥ 0.6 under pgd_linf at ε 0.03", False, "0.410 is below")
    verdict = ship_verdict(inputs(gates=(PASSING, failed)))
    assert verdict.status == DO_NOT_SHIP and verdict.label == "Do not ship"
    assert kinds(verdict) == ["failed_gate"]
    assert "1 release gate fails" in verdict.reasons[0].text and "0.410 is below" in verdict.reasons[0].text
    assert "adversarial training" in verdict.reasons[0].next_step


def test_an_unaccepted_risk_above_the_appetite_blocks_the_version():
    risks = (
        RiskAboveAppetite("Evasion by transfer attacks", "high", False),
        RiskAboveAppetite("Model extraction", "critical", False),
    )
    verdict = ship_verdict(inputs(risks=risks))
    assert verdict.status == DO_NOT_SHIP and kinds(verdict) == ["unaccepted_risk"]
    text = verdict.reasons[0].text
    assert "2 risks are above the project's risk appetite (medium)" in text
    assert "Evasion by transfer attacks (high)" in text and "Model extraction (critical)" in text
    assert "owner" in verdict.reasons[0].next_step and "expiry" in verdict.reasons[0].next_step


def test_an_expired_acceptance_blocks_even_with_other_acceptances_valid():
    expired = RiskAboveAppetite("Inherited backdoor", "high", True, "alice", TODAY - datetime.timedelta(days=1))
    valid = RiskAboveAppetite("Model extraction", "high", True, "bob", TODAY)  # expires today: still valid
    verdict = ship_verdict(inputs(risks=(expired, valid)))
    assert verdict.status == DO_NOT_SHIP
    assert kinds(verdict) == ["expired_acceptance", "accepted_risk"]
    assert "Inherited backdoor (owner alice, expired 2026-12-02)" in verdict.reasons[0].text
    assert "renew" in verdict.reasons[0].next_step


def test_required_tests_not_run_and_unmeasured_gates_block_the_version():
    unmeasured = GateCheck("no_backdoor_flag", "no backdoor flagged by the latest scan", None, "not measured")
    verdict = ship_verdict(inputs(gates=(PASSING, unmeasured), tests_not_run=("Transfer attack",)))
    assert verdict.status == DO_NOT_SHIP and kinds(verdict) == ["tests_not_run"]
    text = verdict.reasons[0].text
    assert text.startswith("2 required tests have not run on student v2: Transfer attack")
    assert "the test for the gate “no backdoor flagged by the latest scan”" in text
    assert "Run the plan" in verdict.reasons[0].next_step


def test_a_backdoor_flag_on_the_version_or_its_teacher_blocks_it_and_replaces_the_gate_failure():
    flagged_gate = GateCheck("no_backdoor_flag", "no backdoor flagged by the latest scan", False, "class 0")
    flags = (
        BackdoorFlag("public teacher v1", ("0 “stop”",), teacher=True),
        BackdoorFlag("student v2", ("3",), teacher=False),
    )
    verdict = ship_verdict(inputs(gates=(PASSING, flagged_gate), backdoors=flags))
    assert verdict.status == DO_NOT_SHIP
    assert kinds(verdict) == ["backdoor", "teacher_backdoor"]  # the version's own flag first; no duplicate gate
    assert "A backdoor scan of student v2 flagged class 3" in verdict.reasons[0].text
    assert "teacher public teacher v1 (class 0 “stop”)" in verdict.reasons[1].text
    assert "lineage check" in verdict.reasons[1].next_step


def test_no_gates_is_a_reason_not_a_pass():
    verdict = ship_verdict(inputs(gates=()))
    assert verdict.status == DO_NOT_SHIP and kinds(verdict) == ["no_gates"]
    assert verdict.reasons[0].text.startswith("Every release gate is disabled:")
    assert "Gates page" in verdict.reasons[0].next_step


def test_threats_not_assessed_yet_block_shipping_and_say_how_to_assess_them():
    verdict = ship_verdict(inputs(not_assessed=("Model extraction", "Model theft")))
    assert verdict.status == DO_NOT_SHIP and kinds(verdict) == ["not_assessed"]
    assert verdict.reasons[0].text == "2 threats are not assessed yet: Model extraction, Model theft."
    assert "questionnaire" in verdict.reasons[0].next_step


def test_a_project_without_a_model_is_not_ready_and_still_lists_its_register_reasons():
    verdict = ship_verdict(inputs(model=None, gates=(), risks=(RiskAboveAppetite("Model extraction", "high", False),)))
    assert verdict.status == DO_NOT_SHIP and verdict.model is None
    assert kinds(verdict) == ["no_model", "unaccepted_risk", "no_gates"]


def test_at_most_five_reasons_most_serious_first_and_the_rest_counted():
    verdict = ship_verdict(
        inputs(
            gates=(GateCheck("max_transfer_success", "transfer success rate ≤ 0.2", False, "0.500 is above 0.2"),),
            backdoors=(BackdoorFlag("student v2", ("1",), False), BackdoorFlag("teacher v1", ("1",), True)),
            risks=(
                RiskAboveAppetite("A", "high", True, "alice", TODAY - datetime.timedelta(days=3)),
                RiskAboveAppetite("B", "high", False),
                RiskAboveAppetite("C", "high", True, "bob", TODAY + datetime.timedelta(days=3)),
            ),
            tests_not_run=("STRIP",),
        )
    )
    assert len(verdict.reasons) == MAX_REASONS and verdict.more_reasons == 2
    assert kinds(verdict) == ["backdoor", "teacher_backdoor", "failed_gate", "expired_acceptance", "unaccepted_risk"]
    data = verdict.as_dict()
    assert data["status"] == DO_NOT_SHIP and data["label"] == "Do not ship" and data["more_reasons"] == 2
    assert set(data["reasons"][0]) == {"text", "next_step"}


def test_reasons_speak_plain_language_without_internal_ids():
    verdict = ship_verdict(
        inputs(
            gates=(GateCheck("no_backdoor_flag", "no backdoor flagged by the latest scan", None, "x"),),
            backdoors=(BackdoorFlag("teacher v1", ("1",), True),),
            risks=(RiskAboveAppetite("Inherited backdoor", "high", False),),
        )
    )
    words = " ".join(f"{r.text} {r.next_step}" for r in verdict.reasons)
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", words), words  # no snake_case ids such as teacher_backdoor_flagged
