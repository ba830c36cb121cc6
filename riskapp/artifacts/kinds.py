"""The job kinds of model and dataset intake, registered with riskapp.jobs when the app starts."""

from django import forms

from riskapp.artifacts.cards import PreprocessingField
from riskapp.jobs.kinds import INTERACTIVE_QUEUE, JobKind, register_kind

# The model check (clean accuracy of a model on a dataset): the kind name other apps refer to.
VALIDATION = "validation"


class IntakeParams(forms.Form):
    path = forms.CharField()
    kind = forms.ChoiceField(choices=[("model", "model"), ("dataset", "dataset")])
    arch = forms.CharField(required=False)
    num_classes = forms.IntegerField(required=False, min_value=2)
    max_bytes = forms.IntegerField(min_value=1)
    preprocessing = PreprocessingField()
    # An image-folder dataset is decoded for a model: its input size, crop, interpolation and class names.
    input_shape = forms.JSONField(required=False)
    crop_pct = forms.FloatField(required=False, min_value=0.1, max_value=1.0)
    interpolation = forms.ChoiceField(
        required=False, choices=[("", ""), ("bilinear", "bilinear"), ("bicubic", "bicubic"), ("nearest", "nearest")]
    )
    class_names = forms.JSONField(required=False)


class ValidationParams(forms.Form):
    model_id = forms.IntegerField()
    dataset_id = forms.IntegerField()
    model_path = forms.CharField()
    arch = forms.CharField(required=False)
    num_classes = forms.IntegerField(required=False, min_value=2)
    preprocessing = PreprocessingField()
    data_path = forms.CharField()
    sample_limit = forms.IntegerField(min_value=0, max_value=1_000_000, initial=2000)
    batch_size = forms.IntegerField(min_value=1, max_value=8192, initial=128)


def _intake_finished(job) -> None:
    from riskapp.artifacts.services import intake_finished

    intake_finished(job=job)


# The API's parameters of a validation: parameter -> the form's field (None: read before the form).
VALIDATION_PARAMS = {"model_id": None, "dataset_id": "dataset", "sample_limit": "sample_limit"}


def _start_validation(*, user, project, kind: str, parameters: dict):
    """A validation from plain parameters (the API); riskapp.jobs.starting.ParameterErrors on bad input."""
    from riskapp.artifacts.forms import ValidationForm
    from riskapp.artifacts.services import validation_start
    from riskapp.jobs.starting import (
        ParameterErrors,
        form_data,
        parameter_errors,
        project_model,
        refuse_non_integer_ids,
        refuse_unknown,
    )

    refuse_unknown(parameters, VALIDATION_PARAMS)
    refuse_non_integer_ids(parameters, {"dataset_id": "a dataset"})
    model = project_model(project, parameters)
    form = ValidationForm(data={"sample_limit": 2000, **form_data(parameters, VALIDATION_PARAMS)}, project=project)
    if not form.is_valid():
        raise ParameterErrors(parameter_errors(form, VALIDATION_PARAMS))
    return validation_start(
        actor=user, model=model, dataset=form.cleaned_data["dataset"], sample_limit=form.cleaned_data["sample_limit"]
    )


def register_artifact_kinds() -> None:
    register_kind(
        JobKind(
            name="intake",
            label="Intake",
            engine_task="intake",
            form=IntakeParams,
            queue=INTERACTIVE_QUEUE,
            description="Scans an uploaded file, loads it with a safe loader and normalises it (safetensors / .npz).",
            user_startable=False,
            file_params=("path",),
            on_finish=_intake_finished,
        )
    )
    register_kind(
        JobKind(
            name=VALIDATION,
            label="Validation",
            engine_task="validate",
            form=ValidationParams,
            queue=INTERACTIVE_QUEUE,
            description="Clean accuracy, per-class accuracy and confusion matrix of a model on an evaluation set.",
            user_startable=False,
            file_params=("model_path", "data_path"),
            on_finish=None,
            start=_start_validation,
            start_label="Validation (clean accuracy of a model on a dataset)",
            start_parameters=tuple(VALIDATION_PARAMS),
        )
    )
