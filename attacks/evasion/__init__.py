"""Evasion attacks: robustness of a classifier against FGSM, PGD, C&W, DeepFool, AutoAttack, Square, HopSkipJump.

White-box attacks need a PyTorch model; ONNX models (no gradients here) can only be attacked with the
black-box attacks. Every result is a `riskapp.evasion/1` document (see docs/evasion.md).
"""

from attacks.evasion.attacks import ATTACKS, BLACK_BOX, WHITE_BOX
from attacks.evasion.core import SCHEMA, evaluate_attack, evaluate_suite
from attacks.evasion.curve import robustness_curve
from attacks.evasion.pgd import pgd
from attacks.evasion.target import Target
from attacks.evasion.transfer import transfer_attack

__all__ = [
    "ATTACKS",
    "BLACK_BOX",
    "SCHEMA",
    "WHITE_BOX",
    "Target",
    "evaluate_attack",
    "evaluate_suite",
    "pgd",
    "robustness_curve",
    "transfer_attack",
]
