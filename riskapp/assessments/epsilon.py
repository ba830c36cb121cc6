"""The project's robustness budget: the largest input change (ε) that must not change the answer, and the norm it
is measured in. Pure; no Django.

A measurement is evidence for the requirement only in the same norm: an L2 ball of radius 0.5 and an L∞ ball of
radius 0.03 are different threat models, and neither result says anything reliable about the other. A result in
another norm is still reported; it is never counted, and `norm_mismatch` says why.
"""

from collections.abc import Mapping
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
