"""Perturbation norms and the summary numbers of one attack run."""

from __future__ import annotations

import numpy as np


def norms(x: np.ndarray, x_adv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample (L∞, L2) norms of the perturbation."""
    delta = (x_adv.astype(np.float64) - x.astype(np.float64)).reshape(len(x), -1)
    if len(delta) == 0:
        return np.zeros(0), np.zeros(0)
    return np.abs(delta).max(axis=1), np.linalg.norm(delta, axis=1)


def within(linf: np.ndarray, l2: np.ndarray, eps: float, norm: str) -> np.ndarray:
    """Perturbations inside the ε-ball (with float32 rounding slack)."""
    size = linf if norm == "inf" else l2
    return size <= eps * (1 + 1e-4) + 1e-6


def rate(count: int, total: int) -> float | None:
    return round(count / total, 6) if total else None


def summary(linf: np.ndarray, l2: np.ndarray) -> dict[str, float | None]:
    """L∞ max and median L2 over the successful adversarial examples (None when there are none)."""
    if len(linf) == 0:
        return {"linf_max": None, "l2_median": None, "l2_max": None}
    return {
        "linf_max": round(float(linf.max()), 6),
        "l2_median": round(float(np.median(l2)), 6),
        "l2_max": round(float(l2.max()), 6),
    }


# Percentiles of a minimum-norm attack's distances, by name.
PERCENTILES = {"p10": 10, "p25": 25, "median": 50, "p75": 75, "p90": 90}


def _percentiles(found: np.ndarray, attacked: int) -> dict[str, float | None]:
    """Nearest-rank percentiles over every attacked input, an input the attack could not fool counting as
    infinitely far: a percentile that falls among those is None (the attack says nothing about it)."""
    ordered = np.sort(found)
    values: dict[str, float | None] = {}
    for name, p in PERCENTILES.items():
        rank = int(np.ceil(p / 100 * attacked)) if attacked else 0
        values[name] = round(float(ordered[rank - 1]), 6) if 1 <= rank <= len(ordered) else None
    return values


def distances(
    linf: np.ndarray, l2: np.ndarray, fooled: np.ndarray, samples: int, eps: float, norm: str
) -> dict[str, object]:
    """What a minimum-norm attack measures: per attacked input, how far it had to move to be misclassified.

    `linf`, `l2` and `fooled` are per attacked (correctly classified) input; `samples` counts every input. Each
    norm gets its percentiles and the sorted distances of the inputs the attack fooled (`values`), so accuracy
    at any ε can be read off later; `at_eps` is that accuracy at the run's ε in its norm: an input counts as
    robust unless the attack found an example for it within ε. It is an upper bound of robust accuracy, like
    any attack's, and usually a loose one: the attack minimises a distance, it does not search the ε-ball."""
    attacked = len(fooled)
    fooled_within = int((fooled & within(linf, l2, eps, norm)).sum())
    summary_by_norm = {}
    for name, size in (("linf", linf), ("l2", l2)):
        found = size[fooled]
        summary_by_norm[name] = _percentiles(found, attacked) | {"values": [round(float(v), 6) for v in np.sort(found)]}
    return {
        "attacked": int(attacked),
        "found": int(fooled.sum()),
        **summary_by_norm,
        "at_eps": {
            "eps": eps,
            "norm": norm,
            "fooled": fooled_within,
            "robust_accuracy": rate(attacked - fooled_within, samples),
        },
    }
