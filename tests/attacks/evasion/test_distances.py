"""Minimum-norm attacks report distances (percentiles, accuracy at an ε read off them), never a bounded result."""

from __future__ import annotations

import numpy as np

from attacks.evasion import evaluate_suite
from attacks.evasion.attacks import Settings
from attacks.evasion.metrics import distances


def test_percentiles_count_inputs_the_attack_could_not_fool_as_infinitely_far():
    linf = np.array([0.1, 0.3, 0.2, 0.9, 0.05])
    l2 = linf * 4
    fooled = np.array([True, True, True, False, False])
    found = distances(linf, l2, fooled, samples=6, eps=0.2, norm="inf")
    assert found["attacked"] == 5 and found["found"] == 3
    assert found["linf"]["values"] == [0.1, 0.2, 0.3]
    # Nearest rank over 5 attacked inputs: p25 is the 2nd smallest, the median the 3rd, p75 the 4th (not fooled).
    assert found["linf"]["p10"] == 0.1 and found["linf"]["p25"] == 0.2 and found["linf"]["median"] == 0.3
    assert found["linf"]["p75"] is None and found["linf"]["p90"] is None
    assert found["l2"]["median"] == 1.2
    # Within L∞ 0.2: two of the five attacked inputs are fooled; the sixth input was misclassified to begin with.
    assert found["at_eps"] == {"eps": 0.2, "norm": "inf", "fooled": 2, "robust_accuracy": round(3 / 6, 6)}


def test_accuracy_at_eps_reads_the_distances_in_the_run_norm():
    linf = np.array([0.1, 0.3])
    l2 = np.array([2.0, 0.5])
    found = distances(linf, l2, np.array([True, True]), samples=2, eps=1.0, norm="2")
    assert found["at_eps"]["fooled"] == 1 and found["at_eps"]["robust_accuracy"] == 0.5


def test_deepfool_reports_distances_and_its_accuracy_at_the_runs_eps(cnn, digits, ctx):
    x, y = digits.x_test[:16], digits.y_test[:16]
    settings = Settings(eps=0.05, norm="inf", steps=5, batch_size=16)
    attack = evaluate_suite(cnn, ["deepfool", "pgd_linf"], x, y, settings, ctx)["attacks"][0]
    bounded = evaluate_suite(cnn, ["pgd_linf"], x, y, settings, ctx)["attacks"][0]
    assert "distances" not in bounded  # ε-bounded attacks keep their document as it was
    found = attack["distances"]
    assert found["attacked"] == attack["attacked"] and found["found"] == attack["fooled"]
    values = found["linf"]["values"]
    assert len(values) == attack["fooled"] and values == sorted(values)
    assert found["linf"]["median"] is not None and found["linf"]["median"] > 0
    # Today's keys stay: every misclassification counts as a success, whatever its size.
    assert attack["eps"] is None and attack["robust_accuracy"] <= found["at_eps"]["robust_accuracy"]
    within = sum(v <= 0.05 * (1 + 1e-4) + 1e-6 for v in values)
    assert found["at_eps"]["fooled"] == within
    assert found["at_eps"]["robust_accuracy"] == round((attack["attacked"] - within) / 16, 6)
