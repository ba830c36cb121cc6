"""The backdoor anomaly index evidence reads the engine's own candidates; older stored scans keep today's rule."""

from riskapp.evaluations.services import flagged_side_anomaly_index


def _scan(rows, **extra):
    return {"median_mask_l1": 30.0, "relative_floor": 0.75, "classes": rows, **extra}


def test_the_engines_candidates_decide_which_indices_count():
    """Class 0 would pass the app's old floor rule (10 < 0.75 × 30) but the engine says it is no candidate (e.g. it
    was not fully optimised): the engine's word wins, and class 2, a candidate above the floor by that rule, counts."""
    rows = [
        {"class": 0, "mask_l1": 10.0, "anomaly_index": 4.0, "candidate": False},
        {"class": 1, "mask_l1": 30.0, "anomaly_index": 0.1, "candidate": False},
        {"class": 2, "mask_l1": 25.0, "anomaly_index": 1.7, "candidate": True},
    ]
    assert flagged_side_anomaly_index(_scan(rows)) == 1.7


def test_no_candidate_gives_zero():
    rows = [{"class": k, "mask_l1": 10.0, "anomaly_index": 3.0, "candidate": False} for k in range(3)]
    assert flagged_side_anomaly_index(_scan(rows)) == 0.0


def test_a_scan_stored_before_candidates_falls_back_to_the_floor_rule():
    rows = [
        {"class": 0, "mask_l1": 10.0, "anomaly_index": 4.0, "natural_shortcut": True},
        {"class": 1, "mask_l1": 20.0, "anomaly_index": 1.9},
        {"class": 2, "mask_l1": 25.0, "anomaly_index": 1.2},  # under the median, above 0.75 × 30
    ]
    assert flagged_side_anomaly_index(_scan(rows)) == 1.9
