"""A gate's definition, validated per kind; the HTML page and the API both go through this form."""

from typing import Any

from django import forms

from attacks.evasion.attacks import EPS_BOUNDED  # the engine's attack table; imports no torch
from riskapp.assessments.epsilon import DEFAULT_NORM, attack_norm_refusal, norm_label
from riskapp.gates.models import GateKind, gate_norm
from riskapp.gates.privacy_gates import PRIVACY_GATES, privacy_gate_params_check
from riskapp.user_json import NumberField

# The gate's parameters by kind (the form's fields beyond kind and enabled).
KIND_PARAMS: dict[str, tuple[str, ...]] = {
    GateKind.MIN_ROBUST_ACCURACY: ("attack", "eps", "norm", "threshold"),
    GateKind.NO_BACKDOOR_FLAG: (),
    GateKind.MAX_TRANSFER_SUCCESS: ("threshold",),
    GateKind.MAX_MEMBERSHIP_AUC: ("threshold",),
    GateKind.MAX_EXTRACTION_AGREEMENT: ("threshold", "budget"),
    GateKind.NO_UNACCEPTED_RISK_ABOVE_APPETITE: (),
}
PARAM_NAMES = ("attack", "eps", "norm", "threshold", "budget")
NORMS = [("inf", "L∞"), ("2", "L2")]


class GateForm(forms.Form):
    kind = forms.ChoiceField(choices=GateKind.choices)
    attack = forms.ChoiceField(
        choices=[("", "—")] + [(name, name) for name in sorted(EPS_BOUNDED)],
        required=False,
        help_text="Minimum robust accuracy: the ε-bounded attack that measures it.",
        error_messages={
            "invalid_choice": f"%(value)s is not an ε-bounded attack; choose one of {', '.join(sorted(EPS_BOUNDED))}."
        },
    )
    eps = NumberField(
        required=False, min_value=0, label="ε", help_text="Minimum robust accuracy: the budget, in input units."
    )
    norm = forms.ChoiceField(
        choices=NORMS,
        required=False,
        label="Norm",
        error_messages={"invalid_choice": "%(value)s is not a norm; choose inf (L∞) or 2 (L2)."},
    )
    threshold = NumberField(
        required=False,
        min_value=0,
        max_value=1,
        help_text=(
            "Minimum robust accuracy (at least), or transfer success rate, membership-inference AUC or extraction "
            "agreement (at most), between 0 and 1."
        ),
    )
    budget = forms.IntegerField(
        required=False,
        min_value=1,
        help_text="Extraction agreement: the number of queries the copy was trained on (one of the test's budgets).",
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, project_norm: str = DEFAULT_NORM, **kwargs):
        """`project_norm`: the norm of the project's ε (epsilon.py), a robust-accuracy gate's norm when none is
        chosen: only results in the gate's norm count for it."""
        super().__init__(*args, **kwargs)
        self.project_norm = project_norm
        # Blank, as over the API, saves the project's norm: a new gate follows the project unless the owner picks.
        self.fields["norm"].choices = [("", f"The project's norm ({norm_label(project_norm)})"), *NORMS]
        self.fields["norm"].help_text = "Minimum robust accuracy: the norm ε is measured in; only results in it count."

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == GateKind.MIN_ROBUST_ACCURACY and not data.get("norm"):
            data["norm"] = self.project_norm
        for name in KIND_PARAMS.get(kind, ()):
            if data.get(name) in (None, "") and name not in self.errors:
                self.add_error(name, f"A “{GateKind(kind).label}” gate needs this.")
        if kind == GateKind.MIN_ROBUST_ACCURACY and data.get("eps") == 0:
            self.add_error("eps", "ε must be above 0.")
        if kind == GateKind.MIN_ROBUST_ACCURACY and data.get("attack") and data.get("norm"):
            self._check_attack_norm(data["attack"], data["norm"])
        if kind in PRIVACY_GATES and not self.errors:
            try:
                privacy_gate_params_check(kind, {name: data.get(name) for name in KIND_PARAMS[kind]})
            except ValueError as error:
                self.add_error(None, str(error))
        return data

    def _check_attack_norm(self, attack: str, norm: str) -> None:
        refusal = attack_norm_refusal(
            attack, norm, purpose=f"measure an {norm_label(norm)} gate", candidates=EPS_BOUNDED
        )
        if refusal:
            self.add_error("attack", refusal)

    def params(self) -> dict[str, Any]:
        """The parameters of the chosen kind, and only those."""
        kind = self.cleaned_data["kind"]
        return {name: self.cleaned_data[name] for name in KIND_PARAMS[kind]}

    @classmethod
    def initial_for(cls, gate) -> dict[str, Any]:
        """The form's values for a gate (a robust-accuracy gate saved without a norm shows the one it is in)."""
        norm = {"norm": gate_norm(gate.params)} if gate.kind == GateKind.MIN_ROBUST_ACCURACY else {}
        return {"kind": gate.kind, "enabled": gate.enabled, **gate.params, **norm}
