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
