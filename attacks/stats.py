"""Small statistics the engine and the app share (no torch, no Django: the web process imports this)."""

from __future__ import annotations

import math
from statistics import NormalDist


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (Wilson, 1927): unlike the normal approximation it stays within
    [0, 1] and is honest for few trials or proportions near 0 or 1, exactly where robustness numbers live;
    (0, 1) when nothing was measured."""
    if trials <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / trials
    centre = p + z * z / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    denominator = 1 + z * z / trials
    return max(0.0, (centre - margin) / denominator), min(1.0, (centre + margin) / denominator)
