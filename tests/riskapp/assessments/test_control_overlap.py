"""Controls that guard against the same thing do not add up: a threat caps the credit of overlapping controls."""

import pytest

from riskapp.assessments.bank import load_bank
from riskapp.assessments.scoring import score
from tests.riskapp.assessments.test_bank import ContentCopy, problems

# A pickled teacher module from a public hub, pulled automatically: malicious_model_file starts at 5 (2 + 1 + 2 + 1).
PICKLED_FROM_A_HUB = {
    "context.uses_pretrained": "yes",
    "teacher.source": "public_hub",
    "teacher.format": "pickled_module",
    "teacher.auto_update": "yes",
    "infrastructure.write_access": "few",
    "infrastructure.safe_loading": "no",
}


@pytest.fixture(scope="module")
def bank():
    return load_bank()


@pytest.fixture
def content(tmp_path):
    return ContentCopy(tmp_path / "content")


def likelihoods(register, threat_id):
    risk = register.risk(threat_id)
    return risk.inherent.likelihood, risk.current.likelihood, risk.projected.likelihood


def test_signing_pinning_and_scanning_count_once_against_a_malicious_model_file(bank):
    checks = {"teacher.pinned": "yes", "teacher.scanned": "yes", "infrastructure.signed_models": "yes"}
    register = score(bank, PICKLED_FROM_A_HUB | checks)
    # Three checks of the file we were handed: one step together, not three.
    assert likelihoods(register, "malicious_model_file") == (5, 4, 4)
    (overlap,) = [s for s in register.risk("malicious_model_file").explanations if s.kind == "overlap"]
    assert (overlap.stage, overlap.dimension, overlap.change) == ("current", "likelihood", 2)
    assert "teacher.pinned" in overlap.text and "at most 1" in overlap.text and "upstream" in overlap.text


def test_an_independent_control_still_adds_to_the_capped_group(bank):
    answers = PICKLED_FROM_A_HUB | {
        "teacher.pinned": "yes",
        "teacher.scanned": "yes",
        "infrastructure.signed_models": "yes",
        "infrastructure.safe_loading": "yes",
    }
    # Code-free loading is the real wall and counts on its own: 5 - 1 (the file checks) - 2 = 2.
    assert likelihoods(score(bank, answers), "malicious_model_file") == (5, 2, 2)


def test_planned_controls_share_the_cap_with_the_ones_in_place(bank):
    answers = PICKLED_FROM_A_HUB | {
        "teacher.pinned": "yes",
        "teacher.scanned": "planned",
        "infrastructure.signed_models": "planned",
    }
    register = score(bank, answers)
    assert likelihoods(register, "malicious_model_file") == (5, 4, 4)
    steps = [s for s in register.risk("malicious_model_file").explanations if s.kind == "overlap"]
    assert [(s.stage, s.change) for s in steps] == [("projected", 2)]


def test_the_cap_holds_for_supply_chain_integrity_checks(bank):
    checks = {"teacher.pinned": "yes", "infrastructure.signed_models": "yes", "infrastructure.registry_auth": "yes"}
    base = {"context.uses_pretrained": "yes", "teacher.auto_update": "yes", "infrastructure.write_access": "broad"}
    without = score(bank, base).risk("supply_chain_compromise").current.likelihood
    assert score(bank, base | checks).risk("supply_chain_compromise").current.likelihood == without - 1


def test_every_overlap_says_why_and_names_controls_of_its_threat(bank):
    overlaps = [(threat, overlap) for threat in bank.threats for overlap in threat.control_overlaps]
    assert {threat.id for threat, _ in overlaps} >= {"malicious_model_file", "supply_chain_compromise"}
    for threat, overlap in overlaps:
        assert overlap.why.strip(), threat.id
        for question_id in overlap.controls:
            question = bank.question(question_id)
            assert any(e.kind == "control" and e.threat == threat.id for e in question.effects), question_id


def test_an_overlap_naming_a_question_that_does_not_control_the_threat_is_rejected(content):
    content.edit(
        "threats.yaml",
        "controls: [teacher.pinned, teacher.scanned, infrastructure.signed_models]",
        "controls: [teacher.pinned, deployment.rate_limits, infrastructure.signed_models]",
    )
    assert "'deployment.rate_limits' is not a control of threat 'malicious_model_file'" in problems(content)


def test_an_overlap_cap_that_caps_nothing_is_rejected(content):
    content.edit(
        "threats.yaml",
        "controls: [teacher.pinned, teacher.scanned, infrastructure.signed_models]\n        likelihood: 1",
        "controls: [teacher.pinned, teacher.scanned, infrastructure.signed_models]\n        likelihood: 3",
    )
    assert "caps nothing" in problems(content)
