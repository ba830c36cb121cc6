"""A gate's definition, validated per kind; the HTML page and the API both go through this form."""

from typing import Any

from django import forms

from attacks.evasion.attacks import EPS_BOUNDED  # the engine's attack table; imports no torch
from riskapp.gates.models import GateKind
from riskapp.gates.privacy_gates import PRIVACY_GATES, privacy_gate_params_check
from riskapp.user_json import NumberField

# The gate's parameters by kind (the form's fields beyond kind and enabled).
KIND_PARAMS: dict[str, tuple[str, ...]] = {
    GateKind.MIN_ROBUST_ACCURACY: ("attack", "eps", "threshold"),
    GateKind.NO_BACKDOOR_FLAG: (),
    GateKind.MAX_TRANSFER_SUCCESS: ("threshold",),
    GateKind.MAX_MEMBERSHIP_AUC: ("threshold",),
    GateKind.MAX_EXTRACTION_AGREEMENT: ("threshold", "budget"),
    GateKind.NO_UNACCEPTED_RISK_ABOVE_APPETITE: (),
}
PARAM_NAMES = ("attack", "eps", "threshold", "budget")


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

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        for name in KIND_PARAMS.get(kind, ()):
            if data.get(name) in (None, "") and name not in self.errors:
                self.add_error(name, f"A “{GateKind(kind).label}” gate needs this.")
        if kind == GateKind.MIN_ROBUST_ACCURACY and data.get("eps") == 0:
            self.add_error("eps", "ε must be above 0.")
        if kind in PRIVACY_GATES and not self.errors:
            try:
                privacy_gate_params_check(kind, {name: data.get(name) for name in KIND_PARAMS[kind]})
            except ValueError as error:
                self.add_error(None, str(error))
        return data

    def params(self) -> dict[str, Any]:
        """The parameters of the chosen kind, and only those."""
        kind = self.cleaned_data["kind"]
        return {name: self.cleaned_data[name] for name in KIND_PARAMS[kind]}

    @classmethod
    def initial_for(cls, gate) -> dict[str, Any]:
        return {"kind": gate.kind, "enabled": gate.enabled, **gate.params}
