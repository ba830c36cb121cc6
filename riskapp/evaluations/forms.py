"""The model page's run form: the test to run and its fields. The API's evaluations go through the same form.

The form holds the fields of every registered kind (riskapp.evaluations.kinds): each kind's declaration lists
the ones it reads (`run_fields`), checks them (`run_check`) and turns them into engine options (`run_options`).
The page shows only the chosen test's fields (`fields_for_page`)."""

from django import forms

from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact
from riskapp.assessments.epsilon import attack_in_norm
from riskapp.evaluations.kinds import EVALUATION_KINDS
from riskapp.evaluations.kinds.fields import NOT_READY
from riskapp.evaluations.services import evaluation_start, project_budget_of
from riskapp.jobs.models import Job
from riskapp.jobs.starting import (
    ParameterErrors,
    form_data,
    parameter_errors,
    project_model,
    refuse_non_integer_ids,
    refuse_unknown,
)


def kind_choices() -> list[tuple[str, str]]:
    return [(kind.name, kind.start_label or kind.label) for kind in EVALUATION_KINDS.values()]


def api_names(form: forms.Form) -> dict[str, str | None]:
    """The API's parameter names of the run form's fields (a dataset or model field as `<name>_id`)."""
    names: dict[str, str | None] = {"model_id": None}
    for name, field in form.fields.items():
        if name != "kind":
            names[f"{name}_id" if isinstance(field, forms.ModelChoiceField) else name] = name
    return names


def api_ids(form: forms.Form) -> dict[str, str]:
    """The API's id parameters of the run form (`<name>_id`), each with what it names (for its error)."""
    return {
        f"{name}_id": "a dataset" if field.queryset.model is DatasetArtifact else "a model"
        for name, field in form.fields.items()
        if isinstance(field, forms.ModelChoiceField)
    }


class EvaluationForm(forms.Form):
    kind = forms.ChoiceField(choices=(), label="Test")
    dataset = forms.ModelChoiceField(
        queryset=DatasetArtifact.objects.none(),
        help_text="Evaluation data; the training set for a poisoned-data scan.",
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
        self.fields["kind"].choices = kind_choices()
        common = {name: self.fields.pop(name) for name in ("steps", "sample_limit")}
        for kind in EVALUATION_KINDS.values():
            for name, make in kind.run_fields.items():
                if name not in self.fields:
                    self.fields[name] = make()
        self.fields.update(common)
        ready_datasets = DatasetArtifact.objects.filter(project=model.project_id, status=IntakeStatus.READY)
        other_models = ModelArtifact.objects.filter(project=model.project_id, status=IntakeStatus.READY).exclude(
            pk=model.pk
        )
        for field in self.fields.values():
            if isinstance(field, forms.ModelChoiceField):
                field.queryset = ready_datasets if field.queryset.model is DatasetArtifact else other_models
        if "teacher" in self.fields:
            self.fields["teacher"].initial = model.parent_id
        if "norm" in self.fields:
            # An attack run by hand measures in the project's norm unless the user picks the other: only a
            # result in that norm is evidence for the project's budget.
            norm = project_budget_of(model.project).norm
            self.fields["norm"].initial = norm
            if "attack" in self.fields:
                self.fields["attack"].initial = attack_in_norm(self.fields["attack"].initial, norm)[0]

    def fields_for_page(self) -> list[tuple[forms.BoundField, str]]:
        """Each field once, with the kinds that read it (space-separated; "" for the fields every test reads):
        the page shows a field only while one of its kinds is chosen."""
        readers: dict[str, list[str]] = {}
        for kind in EVALUATION_KINDS.values():
            for name in kind.run_fields:
                readers.setdefault(name, []).append(kind.name)
        return [(self[name], " ".join(readers.get(name, []))) for name in self.fields]

    def api_defaults(self) -> dict[str, object]:
        """What an API call that leaves a field out gets: the field's initial value (never a model's teacher)."""
        return {
            name: field.initial
            for name, field in self.fields.items()
            if field.initial is not None and not isinstance(field, forms.ModelChoiceField)
        }

    def clean(self):
        data = super().clean()
        kind = EVALUATION_KINDS.get(data.get("kind"))
        if kind is None:
            return data
        if kind.needs_teacher and not data.get("teacher"):
            self.add_error("teacher", "Choose the teacher to compare with.")
        kind.run_check(self, data)
        return data

    def options(self) -> dict:
        """The engine parameters this form asks for, by kind."""
        data = self.cleaned_data
        common = {"sample_limit": data["sample_limit"]}
        if data.get("steps"):
            common["steps"] = data["steps"]
        return common | EVALUATION_KINDS[data["kind"]].run_options(data, self.model)


def evaluation_form_for(*, project, kind: str, parameters: dict) -> tuple[ModelArtifact, EvaluationForm]:
    """The model and the checked run form of a test's plain parameters (the API's; the run form's fields by
    their API names, `api_names`). Raises ParameterErrors, parameter name -> messages."""
    unbound = EvaluationForm(model=ModelArtifact(project_id=project.pk))
    known = api_names(unbound)
    refuse_unknown(parameters, known)
    refuse_non_integer_ids(parameters, api_ids(unbound))
    model = project_model(project, parameters)
    form = EvaluationForm(data={**unbound.api_defaults(), **form_data(parameters, known), "kind": kind}, model=model)
    if not form.is_valid():
        raise ParameterErrors(parameter_errors(form, known))
    return model, form


def evaluation_start_from_parameters(*, user, project, kind: str, parameters: dict) -> Job:
    """Start a test from plain parameters (every evaluation kind's `start`); ParameterErrors on bad input."""
    model, form = evaluation_form_for(project=project, kind=kind, parameters=parameters)
    return evaluation_start(
        actor=user,
        kind=kind,
        model=model,
        dataset=form.cleaned_data["dataset"],
        teacher=form.cleaned_data.get("teacher"),
        options=form.options(),
    )
