"""The run form's fields that several kinds share (each kind lists the ones it reads in `run_fields`)."""

import math

from django import forms

from riskapp.artifacts.models import DatasetArtifact, ModelArtifact
from riskapp.assessments.epsilon import norm_label

NOT_READY = "passed intake (status “ready”)"


def attack_choices() -> list[tuple[str, str]]:
    from attacks.evasion.attacks import ATTACK_PROPERTIES  # the engine's catalogue; imports no torch

    return [(name, f"{name} — {facts['description']}") for name, facts in ATTACK_PROPERTIES.items()]


class EpsField(forms.CharField):
    """ε as one number or a comma-separated grid; cleans to the sorted distinct values."""

    def clean(self, value):
        from attacks.evasion.params import MAX_GRID  # the engine's own limit; imports no torch

        if isinstance(value, list | tuple):  # a grid over the API, for a robustness curve
            value = ",".join(str(v) for v in value)
        text = super().clean(value)
        try:
            values = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
        except ValueError:
            raise forms.ValidationError("ε must be a number, or numbers separated by commas.") from None
        if not all(math.isfinite(v) for v in values):
            raise forms.ValidationError("ε must be a finite number, e.g. 0.1 for inputs in [0, 1].")
        if any(v <= 0 for v in values):
            raise forms.ValidationError("ε must be above 0.")
        grid = sorted(set(values))
        if len(grid) > MAX_GRID:
            # The engine refuses it too, but only once the job runs: say so before a job is queued.
            raise forms.ValidationError(
                f"ε takes at most {MAX_GRID} values (a robustness curve's grid); got {len(grid)}."
            )
        return grid


def teacher() -> forms.Field:
    # The form limits the choices to the project's other ready models.
    return forms.ModelChoiceField(
        queryset=ModelArtifact.objects.none(),
        required=False,
        help_text="For transfer and lineage: the model this one was fine-tuned from.",
        error_messages={"invalid_choice": f"Choose another model of this project that has {NOT_READY}."},
    )


def attack() -> forms.Field:
    choices = attack_choices()
    names = ", ".join(name for name, _ in choices)
    return forms.ChoiceField(
        choices=choices,
        initial="pgd_linf",
        required=False,
        error_messages={"invalid_choice": f"Unknown attack %(value)s; choose one of {names}."},
    )


def norm() -> forms.Field:
    # The form starts it at the project's norm (riskapp.evaluations.forms); blank also means the project's.
    return forms.ChoiceField(
        choices=[(value, norm_label(value)) for value in ("inf", "2")],
        required=False,
        label="Norm",
        help_text="The norm ε is measured in; only results in the project's norm are evidence for its budget.",
        error_messages={"invalid_choice": "%(value)s is not a norm; choose inf (L∞) or 2 (L2)."},
    )


def eps() -> forms.Field:
    return EpsField(
        initial="0.1", label="ε", required=False, help_text="One value, or a comma-separated grid for a curve."
    )


def dataset(label: str, help_text: str) -> forms.Field:
    # The form limits the choices to the project's ready datasets.
    return forms.ModelChoiceField(
        queryset=DatasetArtifact.objects.none(),
        required=False,
        label=label,
        help_text=help_text,
        error_messages={"invalid_choice": f"Choose a dataset of this project that has {NOT_READY}."},
    )
