import math

import numpy as np
from django import forms

from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact

KIND_CHOICES = [
    ("attack", "Evasion attack (one attack, one ε)"),
    ("attack_suite", "Attack suite (several attacks, validity checks)"),
    ("robustness_curve", "Robustness curve (PGD over an ε grid)"),
    ("transfer_attack", "Transfer attack from the teacher"),
    ("backdoor_scan", "Backdoor scan (Neural Cleanse)"),
    ("strip", "STRIP (trigger detection on inputs)"),
    ("data_scan", "Poisoned-data scan (training set)"),
    ("lineage", "Lineage against the teacher"),
]
NEEDS_TEACHER = {"transfer_attack", "lineage"}
EVASION = {"attack", "attack_suite", "robustness_curve", "transfer_attack"}


def attack_choices() -> list[tuple[str, str]]:
    from attacks.evasion.attacks import ATTACKS  # the engine's catalogue; imports no torch

    return [(name, f"{name} — {spec.description}") for name, spec in ATTACKS.items()]


def dataset_input_range(dataset: DatasetArtifact) -> tuple[float, float] | None:
    """The input range the engine attacks within for this dataset (None before its intake measured it)."""
    from attacks.evasion.params import input_range  # the engine's own rule; imports no torch

    x_range = (dataset.intake or {}).get("x_range")
    return input_range(np.asarray(x_range, dtype=float)) if x_range else None


NOT_READY = "passed intake (status “ready”)"


class EvaluationForm(forms.Form):
    kind = forms.ChoiceField(choices=KIND_CHOICES, label="Test")
    dataset = forms.ModelChoiceField(
        queryset=DatasetArtifact.objects.none(),
        help_text="Evaluation data; the training set for a poisoned-data scan.",
        error_messages={"invalid_choice": f"Choose a dataset of this project that has {NOT_READY}."},
    )
    teacher = forms.ModelChoiceField(
        queryset=ModelArtifact.objects.none(),
        required=False,
        help_text="For transfer and lineage: the model this one was fine-tuned from.",
        error_messages={"invalid_choice": f"Choose another model of this project that has {NOT_READY}."},
    )
    attack = forms.ChoiceField(choices=(), initial="pgd_linf", required=False)
    eps = forms.CharField(
        initial="0.1", label="ε", required=False, help_text="One value, or a comma-separated grid for a curve."
    )
    suspect = forms.ModelChoiceField(
        queryset=DatasetArtifact.objects.none(),
        required=False,
        label="Suspect data (STRIP)",
        help_text="Inputs to check for triggers.",
        error_messages={"invalid_choice": f"Choose a dataset of this project that has {NOT_READY}."},
    )
    steps = forms.IntegerField(
        min_value=1,
        max_value=10_000,
        required=False,
        help_text="Blank: the engine's default (PGD 10, Neural Cleanse 600).",
    )
    sample_limit = forms.IntegerField(min_value=1, max_value=100_000, initial=500)

    def __init__(self, *args, model: ModelArtifact, **kwargs):
        super().__init__(*args, **kwargs)
        self.model = model
        self.fields["attack"].choices = attack_choices()
        names = ", ".join(name for name, _ in self.fields["attack"].choices)
        self.fields["attack"].error_messages["invalid_choice"] = f"Unknown attack %(value)s; choose one of {names}."
        self.fields["dataset"].queryset = DatasetArtifact.objects.filter(
            project=model.project_id, status=IntakeStatus.READY
        )
        self.fields["teacher"].queryset = ModelArtifact.objects.filter(
            project=model.project_id, status=IntakeStatus.READY
        ).exclude(pk=model.pk)
        self.fields["suspect"].queryset = self.fields["dataset"].queryset
        self.fields["teacher"].initial = model.parent_id

    def clean_eps(self):
        from attacks.evasion.params import MAX_GRID  # the engine's own limit; imports no torch

        try:
            values = [float(v) for v in self.cleaned_data["eps"].replace(";", ",").split(",") if v.strip()]
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

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind in NEEDS_TEACHER and not data.get("teacher"):
            self.add_error("teacher", "Choose the teacher to compare with.")
        eps = data.get("eps") or []
        if kind in EVASION and not eps and "eps" not in self.errors:
            self.add_error("eps", "Give the perturbation budget ε, in input units (e.g. 0.1 for inputs in [0, 1]).")
        if kind in ("attack", "attack_suite", "transfer_attack") and len(eps) > 1:
            self.add_error("eps", "This test takes one ε; use a robustness curve for a grid.")
        span = dataset_input_range(data["dataset"]) if kind in EVASION and eps and data.get("dataset") else None
        if span is not None and max(eps) > span[1] - span[0]:
            # The engine refuses it too, but only once the job runs: say so before a job is queued.
            low, high = span
            self.add_error(
                "eps",
                f"ε={max(eps):g} is outside the input range: with inputs in [{low:g}, {high:g}] (the dataset's) "
                f"an L∞ ε must be at most {high - low:g}.",
            )
        if kind in ("attack", "transfer_attack") and not data.get("attack") and "attack" not in self.errors:
            self.add_error("attack", "Choose the attack.")
        return data

    def options(self) -> dict:
        """The engine parameters this form asks for, by kind."""
        data, kind = self.cleaned_data, self.cleaned_data["kind"]
        common = {"sample_limit": data["sample_limit"]}
        if data.get("steps"):
            common["steps"] = data["steps"]
        if kind in ("attack", "transfer_attack"):
            return common | {"attacks": [data["attack"]], "eps": data["eps"][0]}
        if kind == "attack_suite":
            suite = ["square", "hopskipjump"] if self.model.format == "onnx" else ["fgsm", "pgd_linf", "square"]
            return common | {"attacks": suite, "eps": data["eps"][0]}
        if kind == "robustness_curve":
            return common | {"attacks": ["pgd_linf"], "eps": data["eps"]}
        if kind == "strip" and data.get("suspect"):
            return common | {"suspect_id": data["suspect"].pk}
        return common
