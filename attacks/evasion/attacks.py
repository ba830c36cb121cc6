"""The attack catalogue: how each attack is built for one batch run, and what kind it is.

All but PGD and AutoAttack (our own torch code, `build=None`) are ART's implementations. Each ART attack gets a
fresh ART estimator per run, runs with `verbose=False` (its tqdm bars would go to the job log), and is called one
batch at a time, so progress and cancellation happen between batches in our loop instead of inside ART.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_STEPS = 10_000  # gradient steps of one attack run
MIN_QUERIES = 10  # black-box query budget per sample
MAX_QUERIES = 10_000_000


@dataclass(frozen=True)
class Settings:
    """What the user chose; each attack reads the parts that apply to it."""

    eps: float
    norm: str = "inf"  # "inf" or "2"
    steps: int = 10
    step_size: float | None = None
    batch_size: int = 128
    seed: int = 0
    max_queries: int = 1000  # black-box query budget per sample (Square's iterations, HopSkipJump's evaluations)

    @property
    def art_norm(self) -> float:
        return np.inf if self.norm == "inf" else 2

    @property
    def step(self) -> float:
        from attacks.evasion.pgd import default_step_size

        return self.step_size if self.step_size is not None else default_step_size(self.eps, self.steps)


@dataclass(frozen=True)
class AttackSpec:
    name: str
    white_box: bool
    eps_bounded: bool  # False: minimum-norm attacks (C&W, DeepFool, HopSkipJump) count any misclassification
    norm: str | None  # None: the attack follows Settings.norm
    build: Callable[[Any, Settings], Any] | None  # (ART estimator, settings) -> ART attack; None: our own code
    description: str

    def norm_for(self, settings: Settings) -> str:
        return self.norm or settings.norm


def _fgsm(estimator: Any, s: Settings) -> Any:
    from art.attacks.evasion import FastGradientMethod

    return FastGradientMethod(estimator, norm=s.art_norm, eps=s.eps, batch_size=s.batch_size)


def _cw(estimator: Any, s: Settings) -> Any:
    from art.attacks.evasion import CarliniL2Method

    return CarliniL2Method(
        estimator, max_iter=s.steps, binary_search_steps=5, batch_size=s.batch_size, learning_rate=0.05, verbose=False
    )


def _deepfool(estimator: Any, s: Settings) -> Any:
    from art.attacks.evasion import DeepFool

    return DeepFool(estimator, max_iter=max(s.steps, 50), batch_size=s.batch_size, verbose=False)


def _square(estimator: Any, s: Settings) -> Any:
    from art.attacks.evasion import SquareAttack

    return SquareAttack(
        estimator, norm=s.art_norm, eps=s.eps, max_iter=s.max_queries, batch_size=s.batch_size, verbose=False
    )


def _hopskipjump(estimator: Any, s: Settings) -> Any:
    from art.attacks.evasion import HopSkipJump

    # About max_queries model evaluations per sample: max_iter rounds of at most max_eval gradient estimates.
    max_iter = max(2, min(10, s.max_queries // 100))
    return HopSkipJump(
        estimator,
        batch_size=s.batch_size,
        norm=s.art_norm,
        max_iter=max_iter,
        max_eval=max(10, s.max_queries // max_iter),
        init_eval=min(100, max(10, s.max_queries // (4 * max_iter))),
        verbose=False,
    )


ATTACKS: dict[str, AttackSpec] = {
    spec.name: spec
    for spec in (
        AttackSpec("fgsm", True, True, None, _fgsm, "Fast gradient sign method (one step), ART"),
        AttackSpec("pgd_linf", True, True, "inf", None, "PGD L∞ with random start (plain torch loop)"),
        AttackSpec("pgd_l2", True, True, "2", None, "PGD L2 with random start (plain torch loop)"),
        AttackSpec("cw_l2", True, False, "2", _cw, "Carlini-Wagner L2 (minimum-norm), ART"),
        AttackSpec("deepfool", True, False, "2", _deepfool, "DeepFool (minimum-norm L2), ART"),
        AttackSpec(
            "autoattack",
            True,
            True,
            None,
            None,
            "AutoAttack, standard version: APGD-CE, APGD-T, FAB-T, Square, each on the survivors (plain torch)",
        ),
        AttackSpec("square", False, True, None, _square, "Square attack (score-based black-box), ART"),
        AttackSpec("hopskipjump", False, False, None, _hopskipjump, "HopSkipJump (decision-based black-box), ART"),
    )
}
WHITE_BOX = tuple(name for name, spec in ATTACKS.items() if spec.white_box)
BLACK_BOX = tuple(name for name, spec in ATTACKS.items() if not spec.white_box)
EPS_BOUNDED = tuple(name for name, spec in ATTACKS.items() if spec.eps_bounded)
MIN_NORM = tuple(name for name, spec in ATTACKS.items() if not spec.eps_bounded)
# What an attack reads from its settings beyond ε: steps (gradient iterations) or a query budget per sample.
_BUDGET = {"square": "max_queries", "hopskipjump": "max_queries"}


def attack_properties() -> dict[str, dict[str, Any]]:
    """Each attack's properties as plain data, for callers that must not import torch (the web app): white-box
    or black-box, ε-bounded or minimum-norm, its norm (None: the run's norm), which budget bounds it (steps or
    max_queries) with that budget's limits, and its description."""
    limits = {"steps": (1, MAX_STEPS), "max_queries": (MIN_QUERIES, MAX_QUERIES)}
    return {
        name: {
            "white_box": spec.white_box,
            "eps_bounded": spec.eps_bounded,
            "norm": spec.norm,
            "budget": _BUDGET.get(name, "steps"),
            "budget_limits": limits[_BUDGET.get(name, "steps")],
            "description": spec.description,
        }
        for name, spec in ATTACKS.items()
    }


ATTACK_PROPERTIES = attack_properties()
