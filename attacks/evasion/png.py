"""Example images of an evasion result: original | adversarial | amplified perturbation (see attacks.png)."""

from __future__ import annotations

import numpy as np


def _to_display(sample: np.ndarray) -> np.ndarray:
    """C×H×W → H×W (grey) or H×W×3; other shapes (flat vectors) become a single row."""
    if sample.ndim == 3 and sample.shape[0] in (1, 3):
        return sample[0] if sample.shape[0] == 1 else np.transpose(sample, (1, 2, 0))
    if sample.ndim == 2:
        return sample
    return sample.reshape(1, -1)


def example_strip(original: np.ndarray, adversarial: np.ndarray, low: float, high: float) -> np.ndarray:
    """original | adversarial | perturbation amplified to the full range (grey = no change), upscaled for viewing."""
    span = (high - low) or 1.0
    clean = (_to_display(original) - low) / span
    adv = (_to_display(adversarial) - low) / span
    delta = adv - clean
    amplified = 0.5 + delta / (2 * max(float(np.abs(delta).max()), 1e-12))
    gap = np.ones((clean.shape[0], 1, *clean.shape[2:]), dtype=np.float64)
    strip = np.concatenate([clean, gap, adv, gap, amplified], axis=1)
    scale = max(1, 96 // max(strip.shape[0], 1))  # small inputs (8×8 digits) are unreadable at 1:1
    return np.repeat(np.repeat(strip, scale, axis=0), scale, axis=1)
