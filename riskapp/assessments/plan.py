"""The recommended test plan: which jobs the questionnaire's answers call for. Pure; no Django.

Rules live in ``content/test_plan_rules.yaml``. A rule whose conditions hold recommends its job; a rule whose
conditions depend on an unknown answer recommends it too (we cannot rule the test out) and says which unknown
answers it assumed. Rules that produce the same job with the same parameters are merged into one planned job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from riskapp.assessments.bank import (
    UNKNOWN,
    AnswerParam,
    Bank,
    Truth,
    condition_truth,
    normalise_answer,
    question_visible,
)
from riskapp.assessments.epsilon import attack_in_norm, budget_from_answers, norm_label


@dataclass(frozen=True)
class PlannedJob:
    """One recommended job: its kind and parameters, why, and which threats its evidence speaks to."""

    kind: str
    params: dict[str, Any] = field(hash=False)
    reasons: tuple[str, ...]
    rule_ids: tuple[str, ...]
    threats: tuple[str, ...]
    assumed_unknown: tuple[str, ...] = ()  # unknown answers that made a rule fire

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (for the API and the job form)."""
        return {
            "kind": self.kind,
            "params": dict(self.params),
            "reasons": list(self.reasons),
            "rule_ids": list(self.rule_ids),
            "threats": list(self.threats),
            "assumed_unknown": list(self.assumed_unknown),
        }


# The rules name attacks as the questionnaire does; the engine's names differ for some.
ENGINE_ATTACK = {"pgd": "pgd_linf", "hop_skip_jump": "hopskipjump"}
# The parameters that state an ε budget: a plan line with one measures in the project's norm.
BUDGET_PARAMS = ("eps", "max_eps")


def engine_attack(name: str, norm: str | None = None) -> str:
    """The engine's name of an attack named by a plan rule; with `norm`, the form of it that measures in that
    norm where the engine has one (PGD: pgd_l2 for "2")."""
    engine_name = ENGINE_ATTACK.get(name, name)
    return engine_name if norm is None else attack_in_norm(engine_name, norm)[0]


def recommended_plan(bank: Bank, answers: Mapping[str, object]) -> list[PlannedJob]:
    """The jobs to run for these answers, in rule order, identical jobs merged. A line with an ε budget carries
    the project's norm (`norm`, epsilon.py): its attacks run in that norm, since only a result in that norm is
    evidence for the requirement."""
    planned: dict[str, PlannedJob] = {}
    norm = budget_from_answers(answers).norm
    for rule in bank.plan_rules:
        unknowns: set[str] = set()
        truth = condition_truth(rule.when, answers, unknowns)
        if truth is Truth.FALSE:
            continue
        assumed = tuple(sorted(unknowns)) if truth is Truth.UNDETERMINED else ()
        params = {name: _param_value(bank, value, answers) for name, value in rule.params.items()}
        if any(name in params for name in BUDGET_PARAMS):
            params["norm"] = norm
        key = json.dumps([rule.job, params], sort_keys=True)
        reasons = (rule.reason, *_norm_notes(params))
        job = PlannedJob(rule.job, params, reasons, (rule.id,), rule.threats, assumed)
        planned[key] = _merge(planned[key], job) if key in planned else job
    return list(planned.values())


def _norm_notes(params: Mapping[str, Any]) -> list[str]:
    """Why a planned attack that has no form in the line's norm runs in its own: its robust accuracy is then
    reported and never counted for the budget. Minimum-norm attacks need no note: their distances are read in
    either norm."""
    from attacks.evasion.attacks import ATTACK_PROPERTIES  # the engine's own table; imports no torch

    norm = params.get("norm")
    named = params.get("attacks") or ([params["attack"]] if params.get("attack") else [])
    notes = []
    for name in named if norm else ():
        attack, measured_in = attack_in_norm(engine_attack(name), norm)
        if measured_in != norm and (ATTACK_PROPERTIES.get(attack) or {}).get("eps_bounded"):
            notes.append(
                f"{attack} has no {norm_label(norm)} form, so it runs in {norm_label(measured_in)}: its result is "
                f"reported, not counted for the project's {norm_label(norm)} budget."
            )
    return notes


def _param_value(bank: Bank, value: Any, answers: Mapping[str, object]) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if not isinstance(value, AnswerParam):
        return value
    question = bank.question(value.question)
    answer = normalise_answer(question, answers.get(question.id)) if question_visible(question, answers) else UNKNOWN
    number = value.default if answer == UNKNOWN else answer
    return round(float(number) * value.scale, 6)


def _merge(first: PlannedJob, second: PlannedJob) -> PlannedJob:
    return PlannedJob(
        kind=first.kind,
        params=first.params,
        reasons=tuple(dict.fromkeys(first.reasons + second.reasons)),  # a norm note once
        rule_ids=first.rule_ids + second.rule_ids,
        threats=tuple(dict.fromkeys(first.threats + second.threats)),
        assumed_unknown=tuple(sorted(set(first.assumed_unknown) | set(second.assumed_unknown)))
        if first.assumed_unknown and second.assumed_unknown
        else (),
    )
