"""The job kinds riskapp can run: their engine task, queue and validated parameters."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from riskapp.user_json import NumberField, user_json_check

QUEUES = (("gpu", "GPU workers (attacks, scans)"), ("cpu", "CPU workers (tests without a GPU)"))
# Short work a user waits for (intake, validation, the reconciler): a queue of its own with its own worker
# process in `make run` and docker-compose.yml, so it never waits behind long attacks on cpu or gpu.
INTERACTIVE_QUEUE = "interactive"
QUEUE_CHOICE = {"invalid_choice": "%(value)s is not a queue; choose gpu or cpu."}


class EnvironmentCheckForm(forms.Form):
    queue = forms.ChoiceField(
        choices=QUEUES, initial="gpu", help_text="Which pool of workers to inspect.", error_messages=QUEUE_CHOICE
    )


class SpeedCheckForm(forms.Form):
    queue = forms.ChoiceField(choices=QUEUES, initial="gpu", error_messages=QUEUE_CHOICE)
    duration_s = NumberField(min_value=1, max_value=600, initial=10, label="Duration (s)")
    size = forms.IntegerField(min_value=64, max_value=4096, initial=512, label="Matrix size")


def describe_parameter(name: str, field: forms.Field) -> str:
    """A parameter's name for the API's help, with its choices when it has a fixed set (queue (gpu|cpu))."""
    if isinstance(field, forms.ChoiceField) and not isinstance(field, forms.ModelChoiceField):
        return f"{name} ({'|'.join(str(value) for value, _ in field.choices if value != '')})"
    return name


@dataclass(frozen=True)
class JobKind:
    name: str
    label: str
    description: str
    engine_task: str
    form: type[forms.Form]
    # Kinds started by other features (intake, validation) are not offered on the project page.
    user_startable: bool = True
    # A fixed queue; None means the `queue` parameter chooses.
    queue: str | None = None
    # Parameters that name stored files: the sandbox sees each, read-only, at its real path.
    file_params: tuple[str, ...] = ()
    # Called with the finished job, in the transaction that records its end (the owning app's bookkeeping).
    on_finish: Callable[[Any], None] | None = None
    # (job, its files) -> context of a result template with figures; None: the page shows the raw result.
    present: Callable[[Any, list[Any]], dict[str, Any]] | None = None
    # (user=, project=, kind=, parameters=) -> the job: how a user starts this kind from plain parameters (the
    # API), through the service that owns it; raises riskapp.jobs.starting.ParameterErrors. None: the parameters
    # are checked by `form` and queued as they are (user-startable kinds only).
    start: Callable[..., Any] | None = None
    # The kind's name in the API's list of kinds a user may start (blank: its label).
    start_label: str = ""
    # The API's names of the parameters `start` takes, for the API's help (empty: `form`'s fields).
    start_parameters: tuple[str, ...] = ()

    def api_parameters(self) -> list[str]:
        """The parameters the jobs API takes for this kind, as its help names them (queue (gpu|cpu))."""
        if self.start_parameters:
            return list(self.start_parameters)
        return [describe_parameter(name, field) for name, field in self.form.base_fields.items()]

    def clean_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """Validated parameters with defaults filled in; ValidationError names each bad field."""
        unknown = set(parameters) - set(self.form.base_fields)
        if unknown:
            raise ValidationError(f"Unknown parameter(s) for {self.label}: {', '.join(sorted(unknown))}.")
        data = {name: field.initial for name, field in self.form.base_fields.items()}
        data.update(parameters)
        form = self.form(data=data)
        if not form.is_valid():
            raise ValidationError([f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()])
        # JSON-typed fields take any JSON value: refuse what the database cannot store (jsonb: no NUL) or what
        # is not JSON (NaN). No size limit here: riskapp's own kinds carry a card's class names (thousands, for
        # a library model); what users send is bounded where they send it.
        return user_json_check(form.cleaned_data, what="parameters", max_bytes=None)

    def queue_for(self, parameters: dict[str, Any]) -> str:
        return self.queue or parameters.get("queue", "gpu")


KINDS: dict[str, JobKind] = {
    kind.name: kind
    for kind in (
        JobKind(
            name="environment_check",
            label="Environment check",
            description="Reports the worker's Python, torch, ART and numpy versions, CUDA devices and CPUs.",
            engine_task="environment",
            form=EnvironmentCheckForm,
        ),
        JobKind(
            name="speed_check",
            label="Speed check",
            description="Measures the worker's sustained matrix-multiply throughput (GFLOP/s) on its device.",
            engine_task="speed",
            form=SpeedCheckForm,
        ),
    )
}


def register_kind(kind: JobKind) -> None:
    """Add a job kind from another app (in its AppConfig.ready); names are unique."""
    if KINDS.get(kind.name, kind) is not kind:
        raise ValueError(f"Job kind {kind.name!r} is registered twice.")
    KINDS[kind.name] = kind


def get_kind(name: str) -> JobKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValidationError(f"Unknown job kind {name!r}. Known kinds: {', '.join(sorted(KINDS))}.") from None


def kinds_for_display() -> list[tuple[JobKind, forms.Form]]:
    return [(kind, kind.form(prefix=kind.name)) for kind in KINDS.values() if kind.user_startable]
