"""A project's quality gates: the thresholds a model version must meet for CI to let it through."""

from django.db import models

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


class QualityGate(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="gates")
    kind = models.CharField(max_length=40, choices=GateKind.choices)
    # By kind: min_robust_accuracy {attack, eps, threshold}; max_transfer_success {threshold}; others {}.
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
        """The gate in words, e.g. "robust accuracy ≥ 0.6 under pgd_linf at ε 0.03"."""
        p = self.params or {}
        if self.kind == GateKind.MIN_ROBUST_ACCURACY:
            return f"robust accuracy ≥ {p.get('threshold')} under {p.get('attack')} at ε {p.get('eps')}"
        if self.kind == GateKind.MAX_TRANSFER_SUCCESS:
            return f"transfer success rate ≤ {p.get('threshold')}"
        if self.kind == GateKind.NO_BACKDOOR_FLAG:
            return "no backdoor flagged by the latest scan"
        if self.kind in PRIVACY_GATES:
            return privacy_gate_describe(self.kind, p)
        return "no risk above the appetite without an accepted treatment"
