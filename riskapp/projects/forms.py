from django import forms
from django.contrib.auth import get_user_model

from riskapp.projects.models import Project
from riskapp.projects.roles import Role


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "description", "risk_appetite"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}


ROLE_CHOICE = {"invalid_choice": f"Choose one of the roles: {', '.join(Role.values)}."}


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="The user must already have a riskapp account.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER, error_messages=ROLE_CHOICE)

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(
                f"No active user is called {username!r}. Ask an administrator to create the account first."
            )
        return user


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, error_messages=ROLE_CHOICE)
