"""A project's quality gates: the thresholds a model version must meet for CI to let it through."""

from typing import Any

from django.db import models

from riskapp.assessments.epsilon import DEFAULT_NORM, attack_norm, engine_norm, norm_label
from riskapp.gates.privacy_gates import PRIVACY_GATES, privacy_gate_describe


class GateKind(models.TextChoices):
    MIN_ROBUST_ACCURACY = "min_robust_accuracy", "Minimum robust accuracy at ε"
    NO_BACKDOOR_FLAG = "no_backdoor_flag", "No backdoor flagged"
    MAX_TRANSFER_SUCCESS = "max_transfer_success", "Transfer success rate at most"
    MAX_MEMBERSHIP_AUC = "max_membership_auc", "Membership-inference AUC at most"
    MAX_EXTRACTION_AGREEMENT = "max_extraction_agreement", "Extraction agreement at most, at a query budget"
    NO_UNACCEPTED_RISK_ABOVE_APPETITE = (
        "no_unaccepted_risk_above_appetite",
        "No risk above the appetite without an accepted treatment",
    )


def gate_norm(params: dict[str, Any]) -> str:
    """The norm a robust-accuracy gate's ε is in: its own `norm`, else its attack's fixed norm (pgd_l2), else L∞
    (a gate saved before gates had a norm: every attack then ran in L∞)."""
    return engine_norm(params.get("norm")) or attack_norm(str(params.get("attack", ""))) or DEFAULT_NORM


def budget_words(params: dict[str, Any]) -> str:
    """A robust-accuracy gate's budget in words: "ε 0.03" when its attack's name says the norm (pgd_linf),
    else with the norm ("L2 ε 0.5")."""
    eps = f"ε {params.get('eps')}"
    return eps if attack_norm(str(params.get("attack", ""))) else f"{norm_label(gate_norm(params))} {eps}"


class QualityGate(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="gates")
    kind = models.CharField(max_length=40, choices=GateKind.choices)
    # By kind: min_robust_accuracy {attack, eps, norm, threshold}; max_transfer_success {threshold}; others {}.
    params = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Not a column: set on the unsaved gates that gates/defaults.py derives from the answers, saying why.
    default_from = ""

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.describe()

    @property
    def is_default(self) -> bool:
        """A default derived from the answers (never saved), not a gate the owner set."""
        return bool(self.default_from)

    def describe(self) -> str:
        """The gate in words, e.g. "robust accuracy ≥ 0.6 under pgd_linf at ε 0.03", or "... under fgsm at L2 ε
        0.5" for an attack whose name does not say the norm."""
        p = self.params or {}
        if self.kind == GateKind.MIN_ROBUST_ACCURACY:
            return f"robust accuracy ≥ {p.get('threshold')} under {p.get('attack')} at {budget_words(p)}"
        if self.kind == GateKind.MAX_TRANSFER_SUCCESS:
            return f"transfer success rate ≤ {p.get('threshold')}"
        if self.kind == GateKind.NO_BACKDOOR_FLAG:
            return "no backdoor flagged by the latest scan"
        if self.kind in PRIVACY_GATES:
            return privacy_gate_describe(self.kind, p)
        return "no risk above the appetite without an accepted treatment"
