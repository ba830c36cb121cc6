"""The evaluation kinds: one module per kind (or per family of kinds sharing their code), each declaring an
`EvaluationKind` (base.py) in a module-level `KINDS` tuple. `register_evaluation_kinds` finds the modules of
this package, so adding a kind is adding a module. Everything else asks this registry, never a kind's name."""

import importlib
import pkgutil
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from riskapp.evaluations.kinds.base import EvaluationKind
from riskapp.jobs.kinds import KINDS, register_kind

EVALUATION_KINDS: dict[str, EvaluationKind] = {}


def register_evaluation_kind(kind: EvaluationKind) -> None:
    """Add a kind to the registry and to riskapp.jobs (which runs it); names are unique."""
    register_kind(kind)
    EVALUATION_KINDS[kind.name] = kind
    ordered = sorted(EVALUATION_KINDS.values(), key=lambda k: k.order)
    EVALUATION_KINDS.clear()
    EVALUATION_KINDS.update((k.name, k) for k in ordered)


def register_evaluation_kinds() -> None:
    """Register the kinds (a module's `KINDS`) of every module of this package (called in the app's ready());
    a module without `KINDS` holds shared parts (base.py, fields.py)."""
    for module in pkgutil.iter_modules(__path__):
        for kind in getattr(importlib.import_module(f"{__name__}.{module.name}"), "KINDS", ()):
            register_evaluation_kind(kind)


def unregister_evaluation_kind(name: str) -> None:
    """Remove a kind (tests that declare a throw-away kind)."""
    EVALUATION_KINDS.pop(name, None)
    KINDS.pop(name, None)


def evaluation_kind(name: str) -> EvaluationKind:
    try:
        return EVALUATION_KINDS[name]
    except KeyError:
        raise ValidationError(f"Unknown test {name!r}. Known tests: {', '.join(EVALUATION_KINDS)}.") from None


def kinds_with(fact: str) -> tuple[str, ...]:
    """The names of the kinds that declare `fact` (base.py's facts), in the registry's order."""
    return tuple(name for name, kind in EVALUATION_KINDS.items() if kind.has(fact))


def kind_with(fact: str) -> EvaluationKind:
    """The one kind that declares `fact` (a fact such as GATE_ATTACK names exactly one kind)."""
    (name,) = kinds_with(fact)
    return EVALUATION_KINDS[name]


def kind_for_gate(gate_kind: str) -> EvaluationKind | None:
    """The kind whose results a gate reads, as the kind declares it (`gate_plans`); None for a gate no single
    kind declares (the robust-accuracy, backdoor and risk gates have readers of their own)."""
    return next((kind for kind in EVALUATION_KINDS.values() if gate_kind in kind.gate_plans), None)


def plan_on_teacher(kind: str, params: dict) -> bool:
    """Whether a plan line (its kind and parameters) runs on the model's teacher rather than the model."""
    declared = EVALUATION_KINDS.get(kind)
    return declared is not None and declared.plan_on_teacher(params)


def plan_needs_teacher(kind: str, params: dict) -> bool:
    """Whether a plan line can only run on a model that has a teacher (it compares with it, or runs on it)."""
    declared = EVALUATION_KINDS.get(kind)
    return declared is not None and (
        declared.needs_teacher or declared.plan_on_teacher(params) or declared.plan_needs_teacher(params)
    )


def job_runs_planned(planned: Any, kind: str, parameters: Mapping[str, Any]) -> bool:
    """Whether a job of `kind` with these parameters ran the planned test (a riskapp.assessments.plan.PlannedJob),
    as far as its kind tells (its declaration's `ran_planned`: attacks, ε, inputs). Which model it ran on is the
    caller's question."""
    declared = EVALUATION_KINDS.get(kind)
    return kind == planned.kind and (declared is None or declared.ran_planned(planned.params, dict(parameters)))
