"""The project's robustness budget: the largest input change (ε) that must not change the answer, and the norm it
is measured in. Pure; no Django.

A measurement is evidence for the requirement only in the same norm: an L2 ball of radius 0.5 and an L∞ ball of
radius 0.03 are different threat models, and neither result says anything reliable about the other. A result in
another norm is still reported; it is never counted, and `norm_mismatch` says why.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

INPUT_EPS = "requirements.input_eps"
INPUT_NORM = "requirements.input_norm"
# The budget while the questionnaire does not give one (as in the test plan's rules).
DEFAULT_EPS = 0.03
DEFAULT_NORM = "inf"
# The engine's spelling of a norm ("inf", "2") from the questionnaire's answer or any spelling the engine accepts.
_NORMS = {"inf": "inf", "linf": "inf", "l_inf": "inf", "2": "2", "l2": "2"}
_LABELS = {"inf": "L∞", "2": "L2"}
# How an engine attack fixed in one norm is named: its sibling in the other norm has the other suffix.
_SUFFIXES = {"inf": "_linf", "2": "_l2"}


@dataclass(frozen=True)
class Budget:
    eps: float
    norm: str  # the engine's spelling: "inf" or "2"

    @property
    def label(self) -> str:
        """The budget in words, such as: L∞ ε 0.03."""
        return f"{norm_label(self.norm)} ε {self.eps:g}"


def engine_norm(value: Any) -> str | None:
    """The engine's spelling ("inf" or "2") of any accepted spelling of a norm; None for anything else."""
    return _NORMS.get(str(value).lower()) if value is not None else None


def norm_label(norm: Any) -> str:
    """The norm for people: L∞ or L2 (the norm as written, for a spelling riskapp does not know)."""
    return _LABELS.get(engine_norm(norm) or "", str(norm))


def budget_from_answers(answers: Mapping[str, object]) -> Budget:
    """The budget the answers state: ε from `requirements.input_eps`, its norm from `requirements.input_norm`
    (L∞ when unanswered, the convention of the question's own examples)."""
    eps = answers.get(INPUT_EPS)
    number = float(eps) if isinstance(eps, int | float) and not isinstance(eps, bool) else DEFAULT_EPS
    return Budget(eps=number, norm=engine_norm(answers.get(INPUT_NORM)) or DEFAULT_NORM)


def result_norm(entry: Mapping[str, Any]) -> str:
    """The norm an attack entry or a curve was measured in (results without one predate the L2 attacks: L∞)."""
    return engine_norm(entry.get("norm")) or DEFAULT_NORM


def norm_mismatch(entry: Mapping[str, Any], budget_norm: str) -> str | None:
    """Why a result in another norm is not evidence for the requirement; None when the norms agree."""
    measured = result_norm(entry)
    if measured == (engine_norm(budget_norm) or DEFAULT_NORM):
        return None
    return (
        f"measured in {norm_label(measured)}, so it is not evidence for a requirement in {norm_label(budget_norm)} "
        "(a budget in one norm says nothing reliable about the other)"
    )


def attack_norm(attack: str) -> str | None:
    """The norm an engine attack is fixed in (pgd_l2: "2"); None when it follows the run's norm (FGSM, AutoAttack,
    Square) or is unknown."""
    from attacks.evasion.attacks import ATTACK_PROPERTIES  # the engine's own table; imports no torch

    return (ATTACK_PROPERTIES.get(attack) or {}).get("norm")


def attacks_in(norm: str, attacks: Iterable[str]) -> list[str]:
    """Those of `attacks` that measure in `norm`: those fixed in it and those that follow the run's norm."""
    return sorted(name for name in attacks if attack_norm(name) in (None, engine_norm(norm)))


def attack_norm_refusal(attack: str, norm: str, *, purpose: str, candidates: Iterable[str]) -> str | None:
    """Why `attack` cannot serve `purpose` in `norm` (it is fixed in the other norm), with the `candidates` that
    can; None when it can. The run form and the gate form refuse such an attack in the same words."""
    fixed = attack_norm(attack)
    if fixed is None or fixed == engine_norm(norm):
        return None
    return (
        f"{attack} measures only in {norm_label(fixed)}, so it cannot {purpose}; "
        f"choose one of {', '.join(attacks_in(norm, candidates))}."
    )


def attack_in_norm(attack: str, norm: str) -> tuple[str, str]:
    """(the engine attack, the norm it measures in) that measures `attack`'s test in `norm`: the attack itself
    when it follows the run's norm or is fixed in `norm`, else its sibling in `norm` (pgd_linf <-> pgd_l2). An
    attack with no form in `norm` keeps its own norm: its result is then reported, never evidence for a budget in
    `norm` (norm_mismatch)."""
    norm = engine_norm(norm) or DEFAULT_NORM
    fixed = attack_norm(attack)
    if fixed is None or fixed == norm:
        return attack, norm
    sibling = attack.removesuffix(_SUFFIXES[fixed]) + _SUFFIXES[norm]
    if attack.endswith(_SUFFIXES[fixed]) and attack_norm(sibling) == norm:
        return sibling, norm
    return attack, fixed
