from django import forms

from riskapp.artifacts.models import DatasetArtifact, DatasetPurpose, IntakeStatus, ModelArtifact
from riskapp.assessments.models import Treatment


class ReviewForm(forms.Form):
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class TreatmentForm(forms.Form):
    treatment = forms.ChoiceField(
        choices=Treatment.choices,
        help_text="The response to the risk (NIST AI RMF MANAGE 1.3): mitigate, transfer, avoid or accept.",
    )
    owner = forms.TypedChoiceField(
        coerce=int,
        empty_value=None,
        required=False,
        help_text="Who answers for the residual risk.",
        error_messages={"invalid_choice": "Choose the owner among the project's members."},
    )
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    expires_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        label="Review by",
        help_text="When an acceptance must be reviewed again.",
    )

    def __init__(self, *args, project, members=None, **kwargs):
        """`members`: the project's users, read once by the caller when it renders a form per risk."""
        super().__init__(*args, **kwargs)
        self.members = {user.pk: user for user in (members or project.members.order_by("username"))}
        self.fields["owner"].choices = [("", "---------")] + [(pk, u.get_username()) for pk, u in self.members.items()]

    def clean_owner(self):
        owner = self.cleaned_data["owner"]
        return None if owner is None else self.members[owner]  # choices guarantee a member


class PlanRunForm(forms.Form):
    """Run the recommended test plan on one of the project's models (the same service as the CI client's)."""

    # No empty choice: the newest ready model and dataset are chosen until the user picks others.
    model = forms.ModelChoiceField(
        queryset=None,
        empty_label=None,
        help_text="The plan's tests run on this model (and its teacher).",
        error_messages={"invalid_choice": "Choose a model of this project that has passed intake (status “ready”)."},
    )
    dataset = forms.ModelChoiceField(
        queryset=None,
        empty_label=None,
        label="Evaluation data",
        error_messages={
            "invalid_choice": "Choose an evaluation dataset of this project that has passed intake (status “ready”)."
        },
    )
    sample_limit = forms.IntegerField(min_value=1, max_value=100_000, initial=200, help_text="Samples per test.")
    backdoor_steps = forms.IntegerField(
        min_value=1,
        max_value=10_000,
        required=False,
        label="Neural Cleanse steps",
        help_text="Blank: the engine's default (600).",
    )

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, auto_id="id_plan_%s", **kwargs)  # unique ids on the register page
        ready = {"project": project, "status": IntakeStatus.READY}
        self.fields["model"].queryset = ModelArtifact.objects.filter(**ready).order_by("-created_at", "-id")
        self.fields["dataset"].queryset = DatasetArtifact.objects.filter(
            **ready, purpose=DatasetPurpose.EVALUATION
        ).order_by("-created_at", "-id")
