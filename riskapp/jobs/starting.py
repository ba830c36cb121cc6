"""Starting a job from plain parameters (the jobs API): the checks every kind's `start` shares.

A kind that is started on a model (validation, the evaluations) declares `start` (riskapp.jobs.kinds.JobKind): it
checks the parameters with these helpers and its own form, then calls the service that owns the kind. Problems
raise `ParameterErrors`, parameter name -> messages, which the API returns under "parameters"."""

import json
from typing import Any

from django import forms

from riskapp.api.fields import MAX_ECHO
from riskapp.artifacts.models import IntakeStatus, ModelArtifact


class ParameterErrors(Exception):
    """Bad parameters: parameter name -> messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def parameter_errors(form: forms.Form, names: dict[str, str | None]) -> dict[str, list[str]]:
    """A form's errors under the parameters' names (`names`: parameter -> the form's field)."""
    by_field = {field: name for name, field in names.items() if field}
    return {by_field.get(field, field): list(errors) for field, errors in form.errors.items()}


def refuse_unknown(parameters: dict[str, Any], known) -> None:
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise ParameterErrors({name: [f"Unknown parameter; known: {', '.join(sorted(known))}."] for name in unknown})


def project_model(project, parameters: dict[str, Any]) -> ModelArtifact:
    """The model `model_id` names: one of the project's, past its intake."""
    model_id = parameters.get("model_id")
    is_id = isinstance(model_id, int) and not isinstance(model_id, bool)  # true is not model 1
    model = project.models.filter(pk=model_id).first() if is_id else None
    if model is None:
        raise ParameterErrors({"model_id": ["Give the id of a model of this project."]})
    if model.status != IntakeStatus.READY:
        raise ParameterErrors(
            {
                "model_id": [
                    f"“{model.name}” has not passed intake (its status is {model.status}): "
                    "choose a model whose intake check passed."
                ]
            }
        )
    return model


def refuse_non_integer_ids(parameters: dict[str, Any], ids: dict[str, str]) -> None:
    """An id is a whole number: a form field would read 19.5 as 19 (and true as 1) and run on that object.
    `ids`: id parameter -> what it names ("a dataset"), for its error."""
    errors = {
        name: [f"Give the id of {what} of this project: a whole number, not {json.dumps(parameters[name])[:MAX_ECHO]}."]
        for name, what in ids.items()
        if parameters.get(name) is not None
        and (isinstance(parameters[name], bool) or not isinstance(parameters[name], int))
    }
    if errors:
        raise ParameterErrors(errors)


def form_data(parameters: dict[str, Any], names: dict[str, str | None]) -> dict[str, Any]:
    """A form's data from the parameters (`names`: parameter -> the form's field; None: not a field)."""
    return {
        field: "" if parameters[name] is None else parameters[name]
        for name, field in names.items()
        if field and name in parameters
    }
