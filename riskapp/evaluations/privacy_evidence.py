"""What a membership-inference or extraction result proves: evidence for the register, and how it was measured.

Same shapes as the other kinds' evidence (evaluations/services.py): `*_evidence(result, project_eps)` gives
evidence kind -> value, `*_measurements(result, evidence, project_eps)` gives evidence kind -> how it was measured
({samples, queries, ...}), which the evidence rules (content/evidence_rules.yaml) weigh before a measurement may
lower a likelihood. `project_eps` is unused (neither test has an ε); it keeps the signature of the other kinds.

Evidence only states what the result measured: a TPR level the engine did not report (too few non-members for
that false-positive rate) gives no evidence, and a result without budgets gives no extraction evidence.
"""

from typing import Any

# The engine's FPR levels (attacks.privacy.membership.FPR_LEVELS) and the evidence kind each becomes.
TPR_EVIDENCE = {0.01: "membership_tpr_at_1pct_fpr", 0.001: "membership_tpr_at_0_1pct_fpr"}


def _tpr_entry(result: dict[str, Any], level: float) -> dict[str, Any] | None:
    """The result's reportable TPR entry at `level`, or None."""
    for entry in result.get("tpr_at_fpr") or []:
        if abs(entry.get("fpr", -1) - level) < 1e-12 and entry.get("reportable") and entry.get("tpr") is not None:
            return entry
    return None


def membership_inference_evidence(result: dict[str, Any], project_eps: float | None = None) -> dict[str, Any]:
    """membership_auc and the TPR at each reportable FPR level (1 %, 0.1 %) of a membership-inference result."""
    evidence: dict[str, Any] = {}
    auc = (result.get("auc") or {}).get("value")
    if isinstance(auc, int | float) and result.get("members") and result.get("non_members"):
        evidence["membership_auc"] = float(auc)
    for level, kind in TPR_EVIDENCE.items():
        entry = _tpr_entry(result, level)
        if entry is not None:
            evidence[kind] = float(entry["tpr"])
    return evidence


def membership_inference_measurements(
    result: dict[str, Any], evidence: dict[str, Any], project_eps: float | None = None
) -> dict[str, dict[str, Any]]:
    """How each membership evidence was measured. `samples` is what the rule's Wilson interval counts: for the
    AUC the smaller of members and non-members (the AUC's variance is at most AUC(1 - AUC) / that count), for a
    TPR the members (its denominator). The bootstrap interval, shadow-model count and both set sizes go along
    for the register's explanation."""
    members, non_members = result.get("members"), result.get("non_members")
    common = {
        "members": members,
        "non_members": non_members,
        "shadow_models": (result.get("shadow_models") or {}).get("count"),
        "method": result.get("method"),
    }
    measured: dict[str, dict[str, Any]] = {}
    if "membership_auc" in evidence:
        measured["membership_auc"] = common | {
            "samples": min(members, non_members),
            "ci": (result.get("auc") or {}).get("ci"),
        }
    for level, kind in TPR_EVIDENCE.items():
        entry = _tpr_entry(result, level)
        if kind in evidence and entry is not None:
            measured[kind] = common | {"samples": members, "fpr": level, "ci": entry.get("ci")}
    return measured


def extraction_decisive_budget(result: dict[str, Any]) -> dict[str, Any] | None:
    """The budget row the evidence speaks for: the highest agreement any budget reached (the worst case), the
    larger budget on a tie. None for a result without budgets."""
    rows = [row for row in result.get("budgets") or [] if isinstance(row.get("agreement"), int | float)]
    return max(rows, key=lambda row: (row["agreement"], row["budget"]), default=None)


def extraction_evidence(result: dict[str, Any], project_eps: float | None = None) -> dict[str, Any]:
    """extraction_agreement at the decisive budget and the copy's accuracy as a share of the model's
    (extraction_accuracy_ratio) at the same budget."""
    row = extraction_decisive_budget(result)
    if row is None:
        return {}
    evidence: dict[str, Any] = {"extraction_agreement": float(row["agreement"])}
    victim = result.get("victim_accuracy")
    if isinstance(victim, int | float) and victim > 0 and isinstance(row.get("accuracy"), int | float):
        evidence["extraction_accuracy_ratio"] = round(row["accuracy"] / victim, 6)
    return evidence


def extraction_measurements(
    result: dict[str, Any], evidence: dict[str, Any], project_eps: float | None = None
) -> dict[str, dict[str, Any]]:
    """How the extraction evidence was measured: `queries` is the decisive budget (the copy's whole budget, not
    per input), `samples` the evaluation inputs agreement was counted over."""
    row = extraction_decisive_budget(result)
    if row is None:
        return {}
    measurement = {
        "queries": row["budget"],
        "samples": ((result.get("data") or {}).get("evaluation") or {}).get("samples"),
        "victim_output": result.get("victim_output"),
        "start": (result.get("copy") or {}).get("start"),
        "copy_accuracy": row.get("accuracy"),
        "victim_accuracy": result.get("victim_accuracy"),
    }
    return {kind: dict(measurement) for kind in evidence}


def privacy_evidence(kind: str, result: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(evidence, measurements) of a membership_inference or extraction result; ({}, {}) for any other kind."""
    functions = {
        "membership_inference": (membership_inference_evidence, membership_inference_measurements),
        "extraction": (extraction_evidence, extraction_measurements),
    }
    if kind not in functions or not result:
        return {}, {}
    evidence_of, measurements_of = functions[kind]
    evidence = evidence_of(result)
    return evidence, measurements_of(result, evidence)
