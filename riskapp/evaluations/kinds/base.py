"""The declaration of an evaluation kind: everything riskapp knows about one test, in one place.

An `EvaluationKind` is a `riskapp.jobs.kinds.JobKind` (engine task, queue, engine parameters, files) plus what the
rest of the app reads about the test: the run form's fields and checks, how its result becomes evidence, how a
line of the recommended test plan becomes its job, how its result page is drawn, and the facts that gates,
selectors and dashboards ask about (`facts`). Gates, the plan checklist, the jobs API and the pages read these
declarations (riskapp.evaluations.kinds) instead of naming kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django import forms

from riskapp.artifacts.cards import PreprocessingField
from riskapp.jobs.kinds import JobKind, describe_parameter

if TYPE_CHECKING:
    from riskapp.artifacts.models import DatasetArtifact, ModelArtifact

# Facts a kind may declare (EvaluationKind.facts); readers ask for kinds by fact, never by name.
ATTACK_RESULTS = "attack_results"  # the result lists attacks (robust accuracy per attack at the run's ε)
ROBUSTNESS_CURVE = "robustness_curve"  # the result is robust accuracy over an ε grid
ROBUST_ACCURACY = "robust_accuracy"  # a minimum-robust-accuracy gate reads its result (attacks or curve)
TRANSFER = "transfer"  # the result has a transfer success rate (the transfer gate reads it)
NEURAL_CLEANSE = "neural_cleanse"  # the backdoor scan whose flags the backdoor gate and the verdict read
BACKDOOR_CHECK = "backdoor_check"  # one method of the combined backdoor verdict (`verdict_slot` names its place)
LINEAGE = "lineage"  # the result compares a student with its teacher (the lineage graph reads it)
GATE_ATTACK = "gate_attack"  # the kind "Run the plan" queues for a robust-accuracy gate's attack
GATE_BACKDOOR_SCAN = "gate_backdoor_scan"  # the kind "Run the plan" queues for the no-backdoor gate


class EngineParams(forms.Form):
    """What every evaluation passes to the engine; the engine checks the values (clear UserErrors)."""

    model_id = forms.IntegerField()
    dataset_id = forms.IntegerField()
    model_path = forms.CharField()
    arch = forms.CharField(required=False)
    num_classes = forms.IntegerField(required=False, min_value=2)
    preprocessing = PreprocessingField()  # the model card's; blank: the library's defaults
    data_path = forms.CharField()
    sample_limit = forms.IntegerField(required=False, min_value=0)
    batch_size = forms.IntegerField(required=False, min_value=1, max_value=8192)
    seed = forms.IntegerField(required=False, min_value=0)
    steps = forms.IntegerField(required=False, min_value=1, max_value=10_000)  # attack or optimisation steps


MODEL_FILES = ("model_path", "data_path")
TEACHER_FILES = ("teacher_path", "student_path", "data_path")


@dataclass(frozen=True)
class PlanLine:
    """A line of the recommended test plan, to translate into a job on `model` (riskapp.assessments.plan_runs)."""

    params: dict[str, Any]  # the plan rule's parameters, in the questionnaire's names
    model: ModelArtifact
    sample_limit: int
    backdoor_steps: int | None = None  # CI's override of Neural Cleanse's steps
    dataset: DatasetArtifact | None = None  # the plan run's evaluation set (the job's dataset)


@dataclass(frozen=True)
class PlanJob:
    """A plan line as a job: engine options and the model it runs on; options None: skipped for `reason`."""

    options: dict[str, Any] | None
    target: ModelArtifact
    reason: str = ""


def _no_evidence(result: dict[str, Any], eps: float | None, norm: str) -> dict[str, Any]:
    return {}


def _no_measurements(result: dict[str, Any], given: dict[str, Any], eps: float | None, norm: str) -> dict[str, Any]:
    return {}


def _no_check(form: forms.Form, data: dict[str, Any]) -> None:
    return None


def _common_options(data: dict[str, Any], model: ModelArtifact) -> dict[str, Any]:
    return {}


def _always_gradients(options: dict[str, Any]) -> bool:
    return True


def _runs_any_planned(planned_params: dict[str, Any], parameters: dict[str, Any]) -> bool:
    return True


def _not_on_teacher(planned_params: dict[str, Any]) -> bool:
    return False


def _no_teacher_params(params: dict[str, Any], teacher: ModelArtifact) -> dict[str, Any]:
    return {}


def _finished(job: Any) -> None:
    from riskapp.evaluations.services import evaluation_finished  # services reads the declarations

    evaluation_finished(job=job)


def _present(job: Any, files: list[Any]) -> dict[str, Any]:
    from riskapp.evaluations.results import present  # results reads the declarations

    return present(job, files)


def _start(*, user: Any, project: Any, kind: str, parameters: dict[str, Any]) -> Any:
    from riskapp.evaluations.forms import evaluation_start_from_parameters  # the form reads the declarations

    return evaluation_start_from_parameters(user=user, project=project, kind=kind, parameters=parameters)


@dataclass(frozen=True)
class EvaluationKind(JobKind):
    """One evaluation kind. Each callable has a do-nothing default, so a kind declares only what it has."""

    # JobKind's defaults for evaluations: on the GPU queue, started from a model's page, evidence when finished.
    queue: str | None = "gpu"
    user_startable: bool = False
    on_finish: Callable[[Any], None] | None = _finished
    present: Callable[[Any, list[Any]], dict[str, Any]] | None = _present
    start: Callable[..., Any] | None = _start

    # Position among the kinds (run form's choices, the combined verdict's methods): lower comes first. The run
    # form and the API name the test by JobKind's `start_label` (blank: its label).
    order: int = 100
    # The run form's fields this kind reads: name -> a function making the field (riskapp.evaluations.kinds.fields
    # has the shared ones). The form shows them only when this kind is chosen; the API takes them by the same
    # names (a dataset or model field as `<name>_id`).
    run_fields: dict[str, Callable[[], forms.Field]] = field(default_factory=dict)
    # (run form, its cleaned data): the kind's own checks of the run form beyond each field's (form.add_error).
    run_check: Callable[[forms.Form, dict[str, Any]], None] = _no_check
    # (cleaned data, model) -> the engine options the run form asks for (sample_limit and steps are added).
    run_options: Callable[[dict[str, Any], ModelArtifact], dict[str, Any]] = _common_options
    needs_teacher: bool = False  # runs on a student with its teacher (the run form's teacher field is required)
    # The engine task checkpoints every epoch into params["checkpoint_dir"] and resumes from a checkpoint found
    # there: the worker keeps it in storage between attempts (riskapp.jobs.checkpoints).
    checkpoints: bool = False
    # (engine params so far, the teacher) -> what the engine needs about the teacher.
    teacher_params: Callable[[dict[str, Any], ModelArtifact], dict[str, Any]] = _no_teacher_params
    # (result, the project's ε and norm) -> evidence kind -> value (riskapp.assessments' evidence rules weigh it);
    # (result, that evidence, ε, norm) -> how each was measured.
    evidence: Callable[[dict[str, Any], float | None, str], dict[str, Any]] = _no_evidence
    measurements: Callable[[dict[str, Any], dict[str, Any], float | None, str], dict[str, Any]] = _no_measurements
    # (evidence, measurements) -> the same, recorded for a teacher (what a student may inherit); None: as they are.
    teacher_evidence: Callable[[dict, dict], tuple[dict, dict]] | None = None
    # A plan line -> its job; None: "Run the plan" does not run this kind (CI has no data for it).
    plan: Callable[[PlanLine], PlanJob] | None = None
    plan_skip_reason: str = "not a kind CI runs"
    # (options) -> whether the job needs the model's gradients or features (so cannot run on an ONNX model).
    needs_gradients: Callable[[dict[str, Any]], bool] = _always_gradients
    # (plan line's params, a job's parameters) -> whether that job ran the planned test (attacks, ε, inputs).
    ran_planned: Callable[[dict[str, Any], dict[str, Any]], bool] = _runs_any_planned
    # (plan line's params) -> whether the plan line runs on the model's teacher rather than the model.
    plan_on_teacher: Callable[[dict[str, Any]], bool] = _not_on_teacher
    # (plan line's params) -> whether the plan line needs the model's teacher though it runs on the model.
    plan_needs_teacher: Callable[[dict[str, Any]], bool] = _not_on_teacher
    # The gates (riskapp.gates.models.GateKind) whose measurement this kind's results are, each with how the
    # gate's parameters become a plan line of this kind: "Run the plan" adds that line when the plan does not
    # already run it, and the gate reads this kind's results.
    gate_plans: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = field(default_factory=dict)
    # (job, result, image urls) -> the result template's context; template: evaluations/<template>.html.
    presenter: Callable[[Any, dict[str, Any], dict[str, str]], dict[str, Any]] | None = None
    template: str = ""
    facts: frozenset[str] = frozenset()
    verdict_slot: str = ""  # with BACKDOOR_CHECK: the argument of attacks.backdoor.verdict.combined_verdict

    def has(self, fact: str) -> bool:
        return fact in self.facts

    def api_parameters(self) -> list[str]:
        """The jobs API's parameters of this kind: the model and dataset, the kind's run fields by their API names
        (a dataset or model field as `<name>_id`, riskapp.evaluations.forms.api_names), steps and sample_limit."""
        own = {name: make() for name, make in self.run_fields.items()}
        return [
            "model_id",
            "dataset_id",
            *(
                f"{name}_id" if isinstance(f, forms.ModelChoiceField) else describe_parameter(name, f)
                for name, f in own.items()
            ),
            "steps",
            "sample_limit",
        ]
