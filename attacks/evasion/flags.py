"""Validity checks after Croce & Hein (AutoAttack, 2020): signs that a robustness number cannot be trusted.

Each returns None or a flag {"code", "message"}; any flag makes a result "not trustworthy".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from attacks.evasion.target import Target

Flag = dict[str, Any]
GRADIENT_SHARE = 0.1  # "many samples": more than this share with zero or non-finite input gradients
RANDOM_TOLERANCE = 1e-4
BLACK_BOX_MARGIN = 0.01
CURVE_TOLERANCE = 0.01
FLAT_DROP = 0.05  # robust accuracy falling by less than this over a ≥4× ε range counts as "not falling"


def gradient_flag(target: Target, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> Flag | None:
    """Zero or non-finite loss gradients w.r.t. the input (shattered gradients, non-differentiable layers)."""
    if not target.white_box or len(x) == 0:
        return None
    import torch
    import torch.nn.functional as F

    bad = 0
    for start in range(0, len(x), batch_size):
        xb = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size], np.float32)).to(target.device)
        yb = torch.from_numpy(y[start : start + batch_size]).to(target.device)
        xb.requires_grad_(True)
        loss = F.cross_entropy(target.model(xb), yb, reduction="sum")  # type: ignore[misc]
        if not loss.requires_grad:  # the graph was cut (detach, round-trip through numpy): no gradient at all
            bad += len(xb)
            continue
        (grad,) = torch.autograd.grad(loss, xb)
        flat = grad.flatten(1)
        bad += int((~torch.isfinite(flat).all(1) | (flat.abs().amax(1) == 0)).sum())
    share = bad / len(x)
    if share <= GRADIENT_SHARE:
        return None
    return {
        "code": "zero_or_nonfinite_gradients",
        "message": f"{share:.0%} of the samples have zero or non-finite input gradients: gradient-based attacks "
        "cannot make progress there, so their robust accuracy overstates robustness.",
        "share": round(share, 6),
    }


def randomness_flag(target: Target, x: np.ndarray) -> Flag | None:
    """The same input twice gives different logits (dropout left on, random defences): attacks see noise."""
    if len(x) == 0:
        return None
    first, second = target.predict(x), target.predict(x)
    scale = 1.0 + float(np.abs(first).max())
    diff = float(np.abs(first - second).max())
    if diff <= RANDOM_TOLERANCE * scale:
        return None
    return {
        "code": "randomised_outputs",
        "message": f"The same input gave different logits twice (max difference {diff:.3g}): the model is "
        "randomised, so attacks without expectation over the randomness (EOT) underestimate it.",
        "max_difference": round(diff, 6),
    }


def black_box_flag(results: Sequence[dict[str, Any]]) -> Flag | None:
    """A black-box attack beating every white-box one at the same ε and norm: the gradients are misleading.

    Inside AutoAttack the same sign is its Square stage fooling samples that APGD-CE, APGD-T and FAB-T all missed.
    """
    for r in results:
        square = next((st for st in r.get("stages", []) if st["stage"] == "square"), None)
        if square is not None and r["samples"] and square["fooled"] / r["samples"] > BLACK_BOX_MARGIN:
            return {
                "code": "black_box_beats_white_box",
                "message": f"Inside AutoAttack, the black-box Square stage fooled {square['fooled']} of the "
                f"{square['attacked']} samples that every gradient-based stage missed "
                f"({square['fooled'] / r['samples']:.1%} of the set): the gradients mislead the white-box "
                "attacks (gradient masking).",
            }
    for norm in {r["norm"] for r in results}:
        bounded = [r for r in results if r["eps_bounded"] and r["norm"] == norm]
        white = [r["robust_accuracy"] for r in bounded if r["white_box"]]
        black = [(r["robust_accuracy"], r["attack"]) for r in bounded if not r["white_box"]]
        if not white or not black:
            continue
        best_black, name = min(black)
        if best_black < min(white) - BLACK_BOX_MARGIN:
            return {
                "code": "black_box_beats_white_box",
                "message": f"The black-box attack {name} reached robust accuracy {best_black:.3f}, below the best "
                f"white-box attack ({min(white):.3f}): the gradients mislead the white-box attacks "
                "(gradient masking).",
            }
    return None


def curve_flag(eps: Sequence[float], robust: Sequence[float]) -> Flag | None:
    """Robust accuracy rising with ε, or not falling at all over a grid that at least quadruples ε."""
    for (e0, r0), (e1, r1) in zip(zip(eps, robust, strict=True), list(zip(eps, robust, strict=True))[1:], strict=False):
        if r1 > r0 + CURVE_TOLERANCE:
            return {
                "code": "robust_accuracy_not_falling",
                "message": f"Robust accuracy rose from {r0:.3f} at ε={e0:g} to {r1:.3f} at ε={e1:g}: "
                "a larger ε can never help the model, so the attack is not converging.",
            }
    if len(eps) >= 2 and eps[-1] >= 4 * eps[0] and robust[0] > 0.05 and robust[-1] > robust[0] - FLAT_DROP:
        return {
            "code": "robust_accuracy_not_falling",
            "message": f"Robust accuracy only went from {robust[0]:.3f} to {robust[-1]:.3f} while ε grew "
            f"from {eps[0]:g} to {eps[-1]:g}: "
            "the attack is not making progress (gradient masking or too few steps).",
        }
    return None


def verdict(flags: Sequence[Flag]) -> str:
    if not flags:
        return "trustworthy: no validity check fired"
    return "not trustworthy: " + "; ".join(flag["code"] for flag in flags)
