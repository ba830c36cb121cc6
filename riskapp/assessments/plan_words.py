"""A test plan line's parameters in words, for the register and its exports: "PGD; ε 0.03 (L∞); 20 steps" rather
than the rule's `attack=pgd eps=0.03 norm=inf steps=20` (the API and the plan's data keep the identifiers)."""

from typing import Any

from riskapp.assessments.epsilon import norm_label
from riskapp.labels import attack_label


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_value(item) for item in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("_", " ")


def _budget(eps: Any, norm: Any) -> str:
    # The norm is part of the budget: ε 0.5 in L2 and ε 0.5 in L∞ are different tests.
    return f"{_value(eps)} ({norm_label(norm)})" if norm else _value(eps)


def _phrase(name: str, value: Any, norm: Any) -> str:
    phrases = {
        "attack": lambda: attack_label(str(value)),
        "attacks": lambda: ", ".join(attack_label(str(a)) for a in value),
        "eps": lambda: f"ε {_budget(value, norm)}",
        "max_eps": lambda: f"ε up to {_budget(value, norm)}",
        "points": lambda: f"{_value(value)} points",
        "steps": lambda: f"{_value(value)} steps",
        "max_queries": lambda: f"{_value(value)} queries per input",
        "shadow_models": lambda: f"{_value(value)} shadow models",
        "budgets": lambda: f"{_value(value)} queries",
    }
    return phrases[name]() if name in phrases else f"{_value(name)}: {_value(value)}"


def plan_params_words(params: dict[str, Any]) -> str:
    """The parameters of a plan line in words, separated by semicolons; its norm is said with its ε."""
    norm = params.get("norm")
    return "; ".join(_phrase(name, value, norm) for name, value in params.items() if name != "norm")
