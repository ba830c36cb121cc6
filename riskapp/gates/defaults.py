"""The release gates a project has until its owner says otherwise, derived from the questionnaire's answers, so
that a ship verdict exists without any configuration.

Computed on every read and never stored, like the register and the verdict: a change of answer changes them at
once, and nothing goes stale. Pure: answers in, unsaved gates out; no database, no clock.

- **Minimum robust accuracy**, when the robustness requirement (``requirements.robust_accuracy_target``) is
  answered: at least that accuracy under the recommended white-box evasion test of the plan (PGD at the project's
  ε, ``requirements.input_eps``, or the plan's default ε while that is unanswered), in the project's norm
  (``requirements.input_norm``, L∞ while unanswered; PGD L2 for an L2 budget). Only results in that norm count.
- **No backdoor flagged** by the latest scan of the version, unless the answers say no pre-trained teacher is
  used (``context.uses_pretrained`` = no): a student inherits its teacher's backdoors.
- **No risk above the appetite without an accepted treatment**: always.

An owner overrides a default by saving a gate of the same kind (its own threshold, attack or ε), and disables it
by saving that gate disabled: any stored gate of a kind replaces the default of that kind. Deleting the stored gate
brings the default back.
"""

from collections.abc import Mapping

from riskapp.assessments.bank import UNKNOWN, Bank, normalise_answer
from riskapp.assessments.epsilon import budget_from_answers
from riskapp.assessments.plan import engine_attack, recommended_plan
from riskapp.evaluations.kinds import kinds_with
from riskapp.evaluations.kinds.base import GATE_ATTACK
from riskapp.gates.models import GateKind, QualityGate

ROBUSTNESS_TARGET = "requirements.robust_accuracy_target"
USES_TEACHER = "context.uses_pretrained"


def _answer(bank: Bank, question_id: str, answers: Mapping[str, object]) -> object:
    try:
        question = bank.question(question_id)
    except KeyError:  # a question bank without the question: no default from it
        return UNKNOWN
    return normalise_answer(question, answers.get(question_id))


def _default(kind: str, params: dict, why: str) -> QualityGate:
    gate = QualityGate(kind=kind, params=params, enabled=True)
    gate.default_from = why
    return gate


def _eps_bounded(name: str) -> bool:
    """Whether the engine's attack measures robust accuracy at an ε (from the engine's own catalogue)."""
    from attacks.evasion.attacks import ATTACK_PROPERTIES  # the engine's own table; imports no torch

    facts = ATTACK_PROPERTIES.get(engine_attack(name))
    return bool(facts and facts["eps_bounded"])


def _robust_accuracy_default(bank: Bank, answers: Mapping[str, object]) -> QualityGate | None:
    target = _answer(bank, ROBUSTNESS_TARGET, answers)
    if isinstance(target, bool) or not isinstance(target, int | float) or target <= 0:
        return None
    evasion = next(
        (
            planned
            for planned in recommended_plan(bank, answers)
            if planned.kind in kinds_with(GATE_ATTACK)
            and _eps_bounded(str(planned.params.get("attack", "")))
            and isinstance(planned.params.get("eps"), int | float)
        ),
        None,
    )
    if evasion is None:
        return None
    eps = evasion.params["eps"]
    budget = budget_from_answers({**answers, "requirements.input_eps": eps})
    attack = engine_attack(evasion.params["attack"], budget.norm)  # the same PGD in the budget's norm (pgd_l2)
    return _default(
        GateKind.MIN_ROBUST_ACCURACY,
        {"attack": attack, "eps": eps, "norm": budget.norm, "threshold": target},
        f"the robustness requirement ({target}) at the project's {budget.label}, under the recommended evasion test",
    )


def default_gates(bank: Bank, answers: Mapping[str, object]) -> list[QualityGate]:
    """The default gates for these answers (unsaved; `is_default` and `default_from` say why each is there)."""
    gates = []
    robust = _robust_accuracy_default(bank, answers)
    if robust is not None:
        gates.append(robust)
    if _answer(bank, USES_TEACHER, answers) != "no":
        why = (
            "the model is fine-tuned from a pre-trained teacher"
            if _answer(bank, USES_TEACHER, answers) == "yes"
            else "the model may be fine-tuned from a pre-trained teacher (not answered yet)"
        )
        gates.append(_default(GateKind.NO_BACKDOOR_FLAG, {}, why))
    gates.append(
        _default(
            GateKind.NO_UNACCEPTED_RISK_ABOVE_APPETITE, {}, "every project: risks above its appetite need a decision"
        )
    )
    return gates


def with_defaults(stored: list[QualityGate], defaults: list[QualityGate]) -> list[QualityGate]:
    """The project's gates in effect: the stored ones, then each default whose kind no stored gate has."""
    kinds = {gate.kind for gate in stored}
    return list(stored) + [gate for gate in defaults if gate.kind not in kinds]
