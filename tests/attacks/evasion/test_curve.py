"""The shared-work ε curve agrees with separate PGD runs per ε."""

from __future__ import annotations

import math

from attacks.evasion import robustness_curve
from attacks.evasion.attacks import Settings

GRID = [0.02, 0.05, 0.1, 0.15, 0.2]


def test_curve_matches_separate_pgd_runs(cnn, digits, ctx):
    x, y = digits.x_test[:300], digits.y_test[:300]
    config = Settings(eps=GRID[-1], steps=10, batch_size=150, seed=0)
    shared = robustness_curve(cnn, x, y, GRID, config, ctx)
    separate = robustness_curve(cnn, x, y, GRID, config, ctx, mode="separate")
    fast = [p["robust_accuracy"] for p in shared["curve"]]
    slow = [p["robust_accuracy"] for p in separate["curve"]]
    assert all(abs(a - b) <= 0.01 for a, b in zip(fast, slow, strict=True)), (fast, slow)
    assert fast == sorted(fast, reverse=True) and fast[0] > fast[-1]
    # Bisection: at most ceil(log2(G + 1)) attacks per sample instead of G.
    correct = separate["curve"][0]["attacked"]
    assert sum(p["attacked"] for p in shared["curve"]) <= math.ceil(math.log2(len(GRID) + 1)) * correct
    assert sum(p["attacked"] for p in separate["curve"]) == len(GRID) * correct
    assert shared["trustworthy"], shared["flags"]


def test_ascending_mode_is_exact_carry_over(cnn, digits, ctx):
    config = Settings(eps=0.2, steps=10, batch_size=150)
    result = robustness_curve(cnn, digits.x_test[:150], digits.y_test[:150], GRID, config, ctx, mode="ascending")
    attacked = [p["attacked"] for p in result["curve"]]
    assert attacked == sorted(attacked, reverse=True) and attacked[-1] < attacked[0]


def test_l2_curve(cnn, digits, ctx):
    config = Settings(eps=1.5, norm="2", steps=10, batch_size=100)
    result = robustness_curve(cnn, digits.x_test[:100], digits.y_test[:100], [0.25, 0.75, 1.5], config, ctx)
    robust = [p["robust_accuracy"] for p in result["curve"]]
    assert robust[0] > robust[-1] and result["norm"] == "2"
