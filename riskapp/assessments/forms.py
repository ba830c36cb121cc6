from django import forms
from django.contrib.auth import get_user_model

from riskapp.assessments.models import Treatment


class ReviewForm(forms.Form):
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class TreatmentForm(forms.Form):
    treatment = forms.ChoiceField(choices=Treatment.choices)
    owner = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), required=False, help_text="Who answers for the residual risk."
    )
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    expires_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        label="Review by",
        help_text="When an acceptance must be reviewed again.",
    )

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = project.members.order_by("username")
