"""Quality gates on the privacy tests: membership-inference AUC at most X, extraction agreement at most X at a
query budget N. Pure functions over result documents, so the gate machinery (gates/evaluate.py) only has to
hand them the model's succeeded jobs of the kind, latest first, and wrap the outcome in its GateResult.

Gate parameters: max_membership_auc {threshold}; max_extraction_agreement {threshold, budget}.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

NOT_MEASURED_NOTE = "counts as failed until it is measured"  # every gate says it (gates/evaluate.py too)

MAX_MEMBERSHIP_AUC = "max_membership_auc"
MAX_EXTRACTION_AGREEMENT = "max_extraction_agreement"
# The job kind whose results each gate reads declares the gate (riskapp.evaluations.kinds: `gate_plans`).


@dataclass(frozen=True)
class PrivacyGateOutcome:
    passed: bool | None  # None: not measured yet
    measured: Any
    message: str
    job_id: int | None = None


def _threshold(params: dict[str, Any]) -> float:
    value = params.get("threshold")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"threshold must be a number between 0 and 1, not {value!r}")
    return float(value)


def privacy_gate_params_check(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The gate's parameters, checked: {threshold} in [0, 1], and for extraction a whole `budget` of at least 1
    query. Raises ValueError with a message a user can act on."""
    if kind == MAX_MEMBERSHIP_AUC:
        return {"threshold": _threshold(params)}
    if kind == MAX_EXTRACTION_AGREEMENT:
        budget = params.get("budget")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ValueError(f"budget must be a whole number of queries (at least 1), not {budget!r}")
        return {"threshold": _threshold(params), "budget": budget}
    raise ValueError(f"{kind!r} is not a privacy gate")


def privacy_gate_describe(kind: str, params: dict[str, Any]) -> str:
    """The gate in words, e.g. "membership-inference AUC ≤ 0.55"."""
    if kind == MAX_MEMBERSHIP_AUC:
        return f"membership-inference AUC ≤ {params.get('threshold')}"
    return f"extraction agreement ≤ {params.get('threshold')} after {params.get('budget')} queries"


def membership_auc_gate(params: dict[str, Any], jobs: Iterable[tuple[int, dict[str, Any]]]) -> PrivacyGateOutcome:
    """Passes when the latest membership-inference result's AUC is at most the threshold. `jobs`: (job id,
    result) of the model's succeeded membership_inference jobs, latest first."""
    threshold = _threshold(params)
    for job_id, result in jobs:
        auc = (result.get("auc") or {}).get("value")
        if not isinstance(auc, int | float):
            continue
        ci = (result.get("auc") or {}).get("ci")
        interval = f" (95% interval {ci[0]:.3f}–{ci[1]:.3f})" if isinstance(ci, list) and len(ci) == 2 else ""
        passed = auc <= threshold
        word = "is within" if passed else "is above"
        return PrivacyGateOutcome(
            passed, auc, f"membership-inference AUC {auc:.3f}{interval} {word} {threshold}", job_id
        )
    return PrivacyGateOutcome(
        None, None, f"not measured: no membership-inference test of this model yet ({NOT_MEASURED_NOTE})"
    )


def extraction_agreement_gate(params: dict[str, Any], jobs: Iterable[tuple[int, dict[str, Any]]]) -> PrivacyGateOutcome:
    """Passes when the latest extraction result that tried the gate's budget left a copy agreeing with the model
    on at most the threshold. A result without that budget is passed over: agreement depends on the budget, and
    another budget's number is no answer for this one. `jobs`: (job id, result), latest first."""
    threshold, budget = _threshold(params), params.get("budget")
    for job_id, result in jobs:
        row = next((r for r in result.get("budgets") or [] if r.get("budget") == budget), None)
        if row is None or not isinstance(row.get("agreement"), int | float):
            continue
        agreement = row["agreement"]
        passed = agreement <= threshold
        word = "is within" if passed else "is above"
        return PrivacyGateOutcome(
            passed, agreement, f"agreement {agreement:.3f} of a copy after {budget} queries {word} {threshold}", job_id
        )
    return PrivacyGateOutcome(
        None, None, f"not measured: no extraction test of this model at {budget} queries yet ({NOT_MEASURED_NOTE})"
    )


PRIVACY_GATES = {MAX_MEMBERSHIP_AUC: membership_auc_gate, MAX_EXTRACTION_AGREEMENT: extraction_agreement_gate}
