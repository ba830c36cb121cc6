from django import forms

from riskapp.assessments.models import Treatment


class ReviewForm(forms.Form):
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class TreatmentForm(forms.Form):
    treatment = forms.ChoiceField(choices=Treatment.choices)
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
