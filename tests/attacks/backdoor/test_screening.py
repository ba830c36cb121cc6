"""Neural Cleanse on many classes: successive-halving screening finds the planted target at a fraction of the work."""

from __future__ import annotations

import numpy as np
import pytest

from attacks.backdoor import cleanse
from attacks.backdoor.demo import many_class_model

CLASSES = 40
STEPS = 200


@pytest.fixture(scope="module")
def backdoored():
    return many_class_model(CLASSES, per_class=20, epochs=25)


def test_screening_flags_the_planted_target_with_under_half_the_work(backdoored):
    model, x, y = backdoored
    report, triggers = cleanse.scan(model, x, y, num_classes=CLASSES, steps=STEPS, precision="float32")
    screening = report["screening"]
    assert screening["method"] == "successive halving"
    assert 3 in screening["shortlist"] and len(screening["shortlist"]) == cleanse.SHORTLIST
    assert report["flagged_classes"] == [3]
    assert screening["class_steps"] < screening["class_steps_all"] / 2
    assert [r["classes"] for r in screening["rounds"]] == [40, 20, 10]
    for entry in report["classes"]:  # only fully optimised triggers are measured, drawn and can accuse
        shortlisted = entry["class"] in screening["shortlist"]
        assert entry["fully_optimised"] is shortlisted
        assert (entry["trigger_success_rate"] is not None) is shortlisted
        assert shortlisted or not entry["flagged"]
    assert report["classes"][3]["trigger_success_rate"] > 0.5
    assert triggers.masks.shape == (CLASSES, 1, 8, 8)


def test_a_shortlisted_class_keeps_optimising_from_where_screening_left_it(backdoored):
    model, x, _ = backdoored
    first = cleanse.reverse_triggers(model, x, [3, 5], steps=40, precision="float32")
    resumed = cleanse.reverse_triggers(model, x, [3, 5], steps=1, precision="float32", start=first, cost=0.0)
    # One more step from the saved masks moves them a little, not back to the 0.05 starting mask.
    assert np.abs(resumed.masks - first.masks).max() < 0.2
    assert abs(resumed.norms[0] - first.norms[0]) < 0.2 * first.norms[0]


def test_all_classes_optimises_every_class_and_few_classes_are_never_screened(backdoored):
    model, x, y = backdoored
    full, _ = cleanse.scan(model, x, y, num_classes=CLASSES, steps=60, precision="float32", screening="all")
    assert full["screening"]["method"] == "all classes"
    assert full["screening"]["class_steps"] == full["screening"]["class_steps_all"] == CLASSES * 60
    assert all(entry["fully_optimised"] for entry in full["classes"])
    few = y < 10
    small, _ = cleanse.scan(model, x[few], y[few], num_classes=10, steps=20, precision="float32")
    assert small["screening"]["method"] == "all classes" and small["screening"]["shortlist"] == list(range(10))
    with pytest.raises(ValueError, match="screening must be one of"):
        cleanse.scan(model, x, y, num_classes=CLASSES, steps=5, screening="some")
