"""The combined backdoor verdict across Neural Cleanse, STRIP and the data scans, and the lineage's reasons."""

from attacks.backdoor import lineage
from attacks.backdoor.verdict import combined_verdict


def nc_scan(flagged, shortcuts=()):
    classes = [
        {"class": k, "mask_l1": 2.0 if k in flagged else 10.0, "anomaly_index": 4.5 if k in flagged else 0.5}
        for k in range(10)
    ]
    return {
        "flagged_classes": list(flagged),
        "natural_shortcut_classes": list(shortcuts),
        "classes": classes,
        "median_mask_l1": 10.0,
        "anomaly_threshold": 2.0,
    }


def strip_result(flagged=None, count=200):
    return {"clean": {"count": 300}, "suspect": None if flagged is None else {"flagged": flagged, "count": count}}


def statuses(verdict):
    return {m["method"]: m["status"] for m in verdict["methods"]}


def test_nothing_run_and_strip_calibration_alone_are_not_assessed():
    assert combined_verdict()["verdict"] == "not_assessed"
    calibrated = combined_verdict(strip=strip_result())
    assert calibrated["verdict"] == "not_assessed"
    assert statuses(calibrated)["STRIP"] == "calibration only"
    assert "nothing was tested" in calibrated["methods"][1]["evidence"]


def test_a_weak_small_trigger_is_explained_and_not_a_flag():
    scan = {**nc_scan([]), "weak_trigger_classes": [3], "trigger_success_floor": 0.75}
    method = combined_verdict(scan)["methods"][0]
    assert method["status"] == "clean"
    assert "Class 3: small trigger, but it sends under 0.75 of held-out inputs there" in method["evidence"]


def test_a_neural_cleanse_flag_is_the_verdict_with_its_evidence():
    verdict = combined_verdict(nc_scan([0]), strip_result(flagged=2))
    assert verdict["verdict"] == "backdoor_suspected" and verdict["classes"] == [0]
    assert statuses(verdict) == {"Neural Cleanse": "flagged", "STRIP": "clean", "Data scan": "not run"}
    assert "class 0: mask L1 2 against a median of 10 (anomaly index 4.5)" in verdict["methods"][0]["evidence"]
    assert verdict["corroborated"] is False


def test_methods_that_agree_corroborate_and_their_classes_are_joined():
    verdict = combined_verdict(nc_scan([3]), strip_result(flagged=40), {"suspected_classes": [3, 7], "samples": 900})
    assert verdict["verdict"] == "backdoor_suspected" and verdict["corroborated"] is True
    assert verdict["classes"] == [3, 7]
    assert "Neural Cleanse, STRIP, Data scan" in verdict["summary"]


def test_clean_checks_give_no_backdoor_found_and_a_shortcut_is_explained():
    verdict = combined_verdict(nc_scan([], shortcuts=[1]), None, {"suspected_classes": [], "samples": 500})
    assert verdict["verdict"] == "no_backdoor_found" and verdict["classes"] == []
    assert "Class 1: small trigger" in verdict["methods"][0]["evidence"]
    assert "natural shortcut" in verdict["methods"][0]["evidence"]


def test_lineage_evidence_says_why_the_flagged_class_is_the_verdict_not_its_success():
    teacher = nc_scan([0])
    student = nc_scan([])
    rates = {k: 0.9 for k in range(10)}
    result = lineage.verdict(teacher, student, rates, [{"layer": "conv.0", "status": "frozen"}])
    assert result["verdict"] == "inherited" and result["inherited_classes"] == [0]
    why = " ".join(result["evidence"])
    assert "unflagged classes send 90%–90%" in why and "success alone marks no backdoor" in why
    assert "class 0: flagged on the teacher (mask L1 2 against a median of 10, anomaly index 4.5)" in why
