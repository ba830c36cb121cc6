"""A lineage verdict is the direct measurement of an inherited backdoor: the register follows it, not the teacher's
own scan, so a "not inherited" lineage page and the register agree."""

from riskapp.assessments.bank import load_bank
from riskapp.assessments.scoring import score
from riskapp.evaluations.services import evidence_from_result, evidence_measurements

FULL = {"steps": 600, "full_scan": True}
TEACHER_FLAGGED = {"teacher_backdoor_flagged": {"value": True, "measurement": FULL}}


def lineage_result(verdict):
    classes = [{"class": k, "fully_optimised": True} for k in range(10)]
    return {
        "verdict": verdict,
        "layers": [{"layer": "conv.0", "parameters": 10, "status": "changed"}],
        "samples": 300,
        "student_scan": {"steps": 600, "classes": classes},
    }


def inherited_risk(evidence):
    return score(load_bank(), {}, evidence).risk("backdoor_inherited")


def test_a_not_inherited_lineage_lowers_the_inherited_backdoor_a_flagged_teacher_raised():
    flagged_teacher = inherited_risk(TEACHER_FLAGGED)
    assert flagged_teacher.current.likelihood == 5
    measured = evidence_from_result("lineage", lineage_result("not_inherited"))
    assert measured["backdoor_inherited"] is False
    how = evidence_measurements("lineage", lineage_result("not_inherited"))["backdoor_inherited"]
    assert how == {"steps": 600, "full_scan": True, "samples": 300}
    risk = inherited_risk(TEACHER_FLAGGED | {"backdoor_inherited": {"value": False, "measurement": how}})
    assert risk.current.likelihood < 5
    texts = " ".join(step.text for step in risk.explanations)
    assert "backdoor_inherited.lineage_inherited" in texts
    assert "backdoor_inherited.teacher_backdoor_flagged" not in texts  # superseded by the direct measurement


def test_an_inherited_lineage_keeps_it_at_the_top_and_no_teacher_backdoor_gives_no_verdict_evidence():
    inherited = evidence_from_result("lineage", lineage_result("inherited"))
    assert inherited["backdoor_inherited"] is True
    risk = inherited_risk({"backdoor_inherited": {"value": True, "measurement": FULL}})
    assert risk.current.likelihood == 5
    assert "backdoor_inherited" not in evidence_from_result("lineage", lineage_result("no_teacher_backdoor"))


def test_the_latent_backdoor_still_hears_the_flagged_teacher():
    evidence = TEACHER_FLAGGED | {"backdoor_inherited": {"value": False, "measurement": FULL}}
    latent = score(load_bank(), {}, evidence).risk("backdoor_latent")
    assert latent.current.likelihood >= 4
