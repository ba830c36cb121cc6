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


def test_a_lineage_verdict_decides_over_the_students_own_flag_on_a_class_the_teacher_does_not_have():
    # The demo's all-layer student: its own scan flags class 5 (the teacher's backdoor is class 0), the lineage
    # says "not inherited". The register must say what the lineage says; the latent backdoor still hears the flag.
    evidence = TEACHER_FLAGGED | {
        "backdoor_flagged": {"value": True, "measurement": FULL},
        "backdoor_anomaly_index": {"value": 2.28, "measurement": FULL},
        "backdoor_inherited": {"value": False, "measurement": FULL},
    }
    register = score(load_bank(), {}, evidence)
    assert register.risk("backdoor_inherited").current.likelihood < 5
    assert register.risk("backdoor_latent").current.likelihood == 5
    without_lineage = {kind: value for kind, value in evidence.items() if kind != "backdoor_inherited"}
    assert inherited_risk(without_lineage).current.likelihood == 5


def test_the_lineage_names_a_class_only_the_student_scan_flags():
    from attacks.backdoor.lineage import verdict

    teacher = {
        "flagged_classes": [0],
        "median_mask_l1": 10.0,
        "classes": [{"class": 0, "mask_l1": 2.0, "anomaly_index": 5.2}],
    }
    found = verdict(teacher, {"flagged_classes": [5]}, {0: 0.02}, [])
    assert found["verdict"] == "not_inherited"
    assert "student scan flags class 5, which the teacher scan does not" in " ".join(found["evidence"])
