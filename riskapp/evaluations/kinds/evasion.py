"""Evasion tests on one model: one attack, a suite of attacks (one ε) and a robustness curve (PGD over a grid)."""

import math
from typing import Any

import numpy as np
from django import forms

from riskapp.artifacts.models import DatasetArtifact
from riskapp.assessments.epsilon import attack_in_norm, attack_norm_refusal, norm_label, norm_mismatch
from riskapp.assessments.plan import engine_attack
from riskapp.charts import evaluations as figures
from riskapp.evaluations.kinds import fields
from riskapp.evaluations.kinds.base import (
    ATTACK_RESULTS,
    GATE_ATTACK,
    MODEL_FILES,
    ROBUST_ACCURACY,
    ROBUSTNESS_CURVE,
    EngineParams,
    EvaluationKind,
    PlanJob,
    PlanLine,
)
from riskapp.evaluations.results import attacks_page, overlaid_curves, uncertainty
from riskapp.evaluations.services import (
    attack_accuracies,
    measured_as,
    teacher_robustness,
)


def _properties() -> dict[str, dict[str, Any]]:
    from attacks.evasion.attacks import ATTACK_PROPERTIES  # the engine's own table; imports no torch

    return ATTACK_PROPERTIES


def is_black_box(name: str) -> bool:
    facts = _properties().get(name)
    return facts is not None and not facts["white_box"]


class EvasionParams(EngineParams):
    attacks = forms.JSONField()
    eps = forms.JSONField()
    norm = forms.ChoiceField(choices=[("inf", "L∞"), ("2", "L2")], required=False)
    # Black-box query budget per sample (Square's iterations, HopSkipJump's evaluations); blank: the engine's 1000.
    max_queries = forms.IntegerField(required=False, min_value=10, max_value=10_000_000)


def dataset_input_range(dataset: DatasetArtifact) -> tuple[float, float] | None:
    """The input range the engine attacks within for this dataset (None before its intake measured it)."""
    from attacks.evasion.params import input_range  # the engine's own rule; imports no torch

    x_range = (dataset.intake or {}).get("x_range")
    return input_range(np.asarray(x_range, dtype=float)) if x_range else None


def evasion_check(*, one_eps: bool, needs_attack: bool):
    """The run form's checks of an evasion test: an ε inside the data's input range; one ε unless it is a
    curve; the attack when the test runs one, in a norm it measures in. A blank norm is the project's (the norm
    field's initial)."""

    def check(form: forms.Form, data: dict[str, Any]) -> None:
        add_error = form.add_error
        data["norm"] = data.get("norm") or form.fields["norm"].initial
        eps = data.get("eps") or []
        if not eps and "eps" not in form.errors:
            add_error("eps", "Give the perturbation budget ε, in input units (e.g. 0.1 for inputs in [0, 1]).")
        if one_eps and len(eps) > 1:
            add_error("eps", "This test takes one ε; use a robustness curve for a grid.")
        # An L2 ε's limit grows with the input's size, which only the engine knows: it checks that one.
        span = dataset_input_range(data["dataset"]) if eps and data.get("dataset") and data["norm"] == "inf" else None
        if span is not None and max(eps) > span[1] - span[0]:
            # The engine refuses it too, but only once the job runs: say so before a job is queued.
            low, high = span
            add_error(
                "eps",
                f"ε={max(eps):g} is outside the input range: with inputs in [{low:g}, {high:g}] (the dataset's) "
                f"an L∞ ε must be at most {high - low:g}.",
            )
        if needs_attack and not data.get("attack") and "attack" not in form.errors:
            add_error("attack", "Choose the attack.")
        if needs_attack and data.get("attack"):
            norm = data["norm"]
            refusal = attack_norm_refusal(
                data["attack"], norm, purpose=f"run in {norm_label(norm)}", candidates=_properties()
            )
            if refusal:
                add_error("attack", refusal)

    return check


def needs_white_box(options: dict[str, Any]) -> bool:
    properties = _properties()
    return any(properties.get(name, {}).get("white_box") for name in options.get("attacks", []))


def ran_planned_attacks(param: str):
    """Whether a job ran the planned attack(s), read from the plan line's `param` (attack or attacks), in the
    planned norm, at the planned ε when the job records one."""

    def ran(planned: dict[str, Any], parameters: dict[str, Any]) -> bool:
        wanted, norm = planned.get(param), planned.get("norm")
        if wanted is not None:
            names = wanted if isinstance(wanted, list | tuple) else [wanted]
            if not {engine_attack(str(name), norm) for name in names} <= set(parameters.get("attacks") or []):
                return False
        if norm is not None and norm_mismatch(parameters, norm) is not None:
            return False  # the same attack in another norm is another test
        planned_eps, ran_eps = planned.get("eps"), parameters.get("eps")
        if isinstance(planned_eps, int | float) and ran_eps is not None:
            ran_eps = ran_eps[0] if isinstance(ran_eps, list) and len(ran_eps) == 1 else ran_eps
            if not isinstance(ran_eps, int | float) or not math.isclose(ran_eps, planned_eps, rel_tol=1e-6):
                return False
        return True

    return ran


# --- evidence -------------------------------------------------------------------------------------------------


def _attack_evidence(result: dict[str, Any], eps: float | None, norm: str) -> dict[str, Any]:
    """The lowest white-box and the lowest query (black-box) accuracy at the budget of a trustworthy result."""
    evidence: dict[str, Any] = {}
    if not result.get("trustworthy", False):
        return evidence
    measured = attack_accuracies(result, eps, norm)
    white = [value for a, value in measured if not is_black_box(a["attack"])]
    black = [value for a, value in measured if is_black_box(a["attack"])]
    if white:
        evidence["robust_accuracy"] = min(white)
    if black:
        evidence["query_robust_accuracy"] = min(black)
    return evidence


def _attack_measurements(result: dict[str, Any], given: dict[str, Any], eps: float | None, norm: str) -> dict:
    settings = result.get("settings") or {}
    measured_attacks = [a for a, _ in attack_accuracies(result, eps, norm)]
    samples = max((a.get("samples") or 0 for a in measured_attacks), default=0) or None
    clean = result.get("clean_accuracy")
    white = [a["attack"] for a in measured_attacks if not is_black_box(a["attack"])]
    black = [a["attack"] for a in measured_attacks if is_black_box(a["attack"])]
    measured: dict[str, dict[str, Any]] = {}
    if "robust_accuracy" in given:
        # A suite's robust accuracy is its lowest: as strong as its strongest attack, so all are listed.
        measured["robust_accuracy"] = measured_as(
            attacks=white, steps=settings.get("steps"), samples=samples, clean_accuracy=clean
        )
    if "query_robust_accuracy" in given:
        measured["query_robust_accuracy"] = measured_as(
            attacks=black, queries=settings.get("max_queries"), samples=samples, clean_accuracy=clean
        )
    return measured


def _curve_evidence(result: dict[str, Any], eps: float | None, norm: str) -> dict[str, Any]:
    """The curve's point at the largest ε not above the project's budget (none if the grid starts above it:
    robustness at a larger ε says nothing good about the budget, and a smaller one nothing bad); only a curve in
    the project's norm speaks for its budget."""
    if not result.get("trustworthy", False) or eps is None or norm_mismatch(result, norm) is not None:
        return {}
    points = [p for p in result.get("curve", []) if p["eps"] <= eps * (1 + 1e-9)]
    return {"robust_accuracy": max(points, key=lambda p: p["eps"])["robust_accuracy"]} if points else {}


def _curve_measurements(result: dict[str, Any], given: dict[str, Any], eps: float | None, norm: str) -> dict:
    if "robust_accuracy" not in given:
        return {}
    settings = result.get("settings") or {}
    return {
        "robust_accuracy": measured_as(
            attacks=[result.get("attack", "pgd_linf")],
            steps=result.get("steps", settings.get("steps")),
            samples=(result.get("data") or {}).get("samples"),
            clean_accuracy=result.get("clean_accuracy"),
        )
    }


# --- plan translation -------------------------------------------------------------------------------------------


def _budget(p: dict[str, Any]) -> dict[str, Any]:
    # The plan states a black-box budget in the engine's own unit (queries per input): it reaches the engine as it
    # is, because the evidence rules weigh a query attack by the budget it had.
    return {"max_queries": p["max_queries"]} if p.get("max_queries") else {}


def plan_norm(p: dict[str, Any]) -> dict[str, Any]:
    """The plan line's norm (the project's, recommended_plan) as the engine option that runs its attacks in it."""
    return {"norm": p["norm"]} if p.get("norm") else {}


def _plan_attack(line: PlanLine) -> PlanJob:
    p = line.params
    attacks = [engine_attack(p["attack"], p.get("norm"))]
    options = {"sample_limit": line.sample_limit, "attacks": attacks, "eps": p["eps"]} | plan_norm(p)
    options |= _budget(p) | ({"steps": p["steps"]} if p.get("steps") else {})
    return PlanJob(options, line.model)


def _plan_suite(line: PlanLine) -> PlanJob:
    p = line.params
    attacks = [engine_attack(a, p.get("norm")) for a in p["attacks"]]
    options = {"sample_limit": line.sample_limit, "attacks": attacks, "eps": p["eps"]} | plan_norm(p) | _budget(p)
    return PlanJob(options, line.model)


def _plan_curve(line: PlanLine) -> PlanJob:
    p = line.params
    points = max(int(p.get("points", 8)), 1)
    grid = [round(p["max_eps"] * i / points, 6) for i in range(1, points + 1)]
    attacks = [engine_attack(p.get("attack", "pgd"), p.get("norm"))]
    return PlanJob({"sample_limit": line.sample_limit, "attacks": attacks, "eps": grid} | plan_norm(p), line.model)


# --- result page --------------------------------------------------------------------------------------------------


def _present_curve(job: Any, result: dict[str, Any], images: dict[str, str]) -> dict[str, Any]:
    series = overlaid_curves(job, result)
    samples = (result.get("data") or {}).get("samples")
    points = [{**p, "ci": uncertainty(p.get("robust_accuracy"), samples)} for p in result.get("curve", [])]
    return {
        "figure": figures.robustness_curves(series, norm=result.get("norm", "inf")),
        "series": series,
        "points": points,
    }


def attack_options(data: dict[str, Any], model: Any) -> dict[str, Any]:
    """The run form's one attack at one ε, in the chosen norm (evasion_check refused an attack without a form in
    it)."""
    return {"attacks": [data["attack"]], "eps": data["eps"][0], "norm": data["norm"]}


def _suite_options(data: dict[str, Any], model: Any) -> dict[str, Any]:
    suite = ["square", "hopskipjump"] if model.format == "onnx" else ["fgsm", "pgd_linf", "square"]
    norm = data["norm"]
    return {"attacks": [attack_in_norm(a, norm)[0] for a in suite], "eps": data["eps"][0], "norm": norm}


def _curve_options(data: dict[str, Any], model: Any) -> dict[str, Any]:
    norm = data["norm"]
    return {"attacks": [attack_in_norm("pgd_linf", norm)[0]], "eps": data["eps"], "norm": norm}


_EVASION = {
    "engine_task": "evasion",
    "form": EvasionParams,
    "file_params": MODEL_FILES,
    "needs_gradients": needs_white_box,
    "teacher_evidence": teacher_robustness,
    "template": "attack",
}

ATTACK = EvaluationKind(
    name="attack",
    label="Evasion attack",
    description="One evasion attack at one ε: clean and robust accuracy, success rate, perturbation size.",
    order=10,
    start_label="Evasion attack (one attack, one ε)",
    run_fields={"attack": fields.attack, "eps": fields.eps, "norm": fields.norm},
    run_check=evasion_check(one_eps=True, needs_attack=True),
    run_options=attack_options,
    evidence=_attack_evidence,
    measurements=_attack_measurements,
    plan=_plan_attack,
    ran_planned=ran_planned_attacks("attack"),
    presenter=attacks_page,
    facts=frozenset({ATTACK_RESULTS, ROBUST_ACCURACY, GATE_ATTACK}),
    **_EVASION,
)
ATTACK_SUITE = EvaluationKind(
    name="attack_suite",
    label="Attack suite",
    description="Several evasion attacks at one ε, with validity checks across them.",
    order=20,
    start_label="Attack suite (several attacks, validity checks)",
    run_fields={"eps": fields.eps, "norm": fields.norm},
    run_check=evasion_check(one_eps=True, needs_attack=False),
    run_options=_suite_options,
    evidence=_attack_evidence,
    measurements=_attack_measurements,
    plan=_plan_suite,
    ran_planned=ran_planned_attacks("attacks"),
    presenter=attacks_page,
    facts=frozenset({ATTACK_RESULTS, ROBUST_ACCURACY}),
    **_EVASION,
)
ROBUSTNESS_CURVE_KIND = EvaluationKind(
    name="robustness_curve",
    label="Robustness curve",
    description="Robust accuracy over a grid of ε (PGD).",
    order=30,
    start_label="Robustness curve (PGD over an ε grid)",
    run_fields={"eps": fields.eps, "norm": fields.norm},
    run_check=evasion_check(one_eps=False, needs_attack=False),
    run_options=_curve_options,
    evidence=_curve_evidence,
    measurements=_curve_measurements,
    plan=_plan_curve,
    presenter=_present_curve,
    facts=frozenset({ROBUSTNESS_CURVE, ROBUST_ACCURACY}),
    **(_EVASION | {"engine_task": "robustness_curve", "template": "robustness_curve"}),
)
KINDS = (ATTACK, ATTACK_SUITE, ROBUSTNESS_CURVE_KIND)
