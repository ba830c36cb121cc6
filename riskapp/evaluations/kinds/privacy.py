"""Privacy tests on one model: membership inference (does the model give away who was in its training set?) and
extraction (how closely can a copy trained on its answers agree with it?).

Membership inference reads the model's training data as members and the evaluation set (the test's dataset,
never trained on) as non-members. Extraction queries the model with a query set and measures the copy on the
evaluation set; a copy may start from the model's parent (a public teacher). In "Run the plan" the members and
the query set are the project's latest training dataset: an attacker's public images are taken to look like the
training data (their labels are never read)."""

from typing import Any

from django import forms

from riskapp.artifacts.cards import PreprocessingField
from riskapp.artifacts.models import DatasetArtifact, DatasetPurpose, IntakeStatus, ModelArtifact
from riskapp.evaluations import privacy_evidence, privacy_plan, privacy_results
from riskapp.evaluations.kinds import fields
from riskapp.evaluations.kinds.base import EngineParams, EvaluationKind, PlanJob, PlanLine
from riskapp.gates.privacy_gates import MAX_EXTRACTION_AGREEMENT, MAX_MEMBERSHIP_AUC

SCRATCH, PUBLIC_TEACHER = "scratch", "public_teacher"
NO_EVALUATION_SET = "needs the plan run's evaluation set"


class MembershipParams(EngineParams):
    members_path = forms.CharField()
    non_members_path = forms.CharField()
    shadow_arch = forms.CharField(required=False)
    shadow_models = forms.IntegerField(required=False, min_value=2, max_value=256)
    epochs = forms.IntegerField(required=False, min_value=1, max_value=10_000)
    learning_rate = forms.FloatField(required=False, min_value=0)
    weight_decay = forms.FloatField(required=False, min_value=0)
    bootstrap = forms.IntegerField(required=False, min_value=0, max_value=100_000)


class ExtractionParams(EngineParams):
    query_path = forms.CharField()
    eval_path = forms.CharField()
    budgets = forms.JSONField()
    victim_output = forms.ChoiceField(choices=[("label", "label"), ("probabilities", "probabilities")], required=False)
    teacher_id = forms.IntegerField(required=False)  # the public teacher the copy starts from (its page names it)
    copy_arch = forms.CharField(required=False)
    copy_weights = forms.CharField(required=False)
    copy_preprocessing = PreprocessingField()
    learning_rate = forms.FloatField(required=False, min_value=0)
    weight_decay = forms.FloatField(required=False, min_value=0)


def _latest_training_set(project_id: int) -> DatasetArtifact | None:
    return (
        DatasetArtifact.objects.filter(project=project_id, status=IntakeStatus.READY, purpose=DatasetPurpose.TRAINING)
        .order_by("-created_at", "-id")
        .first()
    )


def _samples(dataset: DatasetArtifact | None) -> int:
    return int(((dataset.intake or {}).get("samples") or 0) if dataset else 0)


def _teacher_start(model: ModelArtifact) -> dict[str, Any]:
    """What the engine needs to start the copy from the model's parent (the public teacher)."""
    teacher = model.parent
    card = teacher.card_params("copy_")
    return {
        "teacher_id": teacher.pk,
        "copy_weights": teacher.job_file,
        "copy_arch": card.get("copy_arch", ""),
        "copy_preprocessing": card.get("copy_preprocessing") or {},
    }


# --- membership inference ------------------------------------------------------------------------------------------


def _membership_check(form: forms.Form, data: dict[str, Any]) -> None:
    members = data.get("members")
    if members is None:
        if "members" not in form.errors:
            form.add_error("members", "Choose a sample of the model's training data (the members).")
    elif members == data.get("dataset"):
        form.add_error("members", "The members must be training data, not the evaluation set (the non-members).")


def _membership_options(data: dict[str, Any], model: ModelArtifact) -> dict[str, Any]:
    options = {"members_path": data["members"].job_file, "non_members_path": data["dataset"].job_file}
    return options | ({"shadow_models": data["shadow_models"]} if data.get("shadow_models") else {})


def _membership_plan(line: PlanLine) -> PlanJob:
    if line.dataset is None:
        return PlanJob(None, line.model, NO_EVALUATION_SET)
    training = _latest_training_set(line.model.project_id)
    options, reason = privacy_plan.membership_inference_plan_options(
        line.params, sample_limit=line.sample_limit, members=_samples(training), non_members=_samples(line.dataset)
    )
    if options is None:
        return PlanJob(None, line.model, reason)
    # The non-members are the plan run's evaluation set (the job's dataset).
    return PlanJob(options | {"members_path": training.job_file, "non_members_path": line.dataset.job_file}, line.model)


# --- extraction ----------------------------------------------------------------------------------------------------


class BudgetsField(forms.CharField):
    """Query budgets as comma-separated whole numbers (or a list over the API); cleans to the sorted distinct ones."""

    def clean(self, value):
        if isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        text = super().clean(value)
        try:
            budgets = sorted({int(v) for v in text.replace(";", ",").split(",") if v.strip()})
        except ValueError:
            raise forms.ValidationError("Budgets must be whole numbers of queries separated by commas.") from None
        if any(b < 1 for b in budgets):
            raise forms.ValidationError("Each budget must be at least 1 query.")
        return budgets


def _extraction_check(form: forms.Form, data: dict[str, Any]) -> None:
    query = data.get("query")
    if query is None:
        if "query" not in form.errors:
            form.add_error("query", "Choose the images to query the model with.")
        return
    if not data.get("budgets") and "budgets" not in form.errors:
        form.add_error("budgets", "Give at least one query budget, e.g. 100, 1000.")
    size = _samples(query)
    if size and data.get("budgets") and max(data["budgets"]) > size:
        # The engine refuses it too, but only once the job runs: say so before a job is queued.
        form.add_error("budgets", f"The query set has {size:,} images: a budget can be at most that.")
    if data.get("copy_start") == PUBLIC_TEACHER and form.model.parent_id is None:
        form.add_error("copy_start", "This model has no parent (public teacher) for the copy to start from.")


def _extraction_options(data: dict[str, Any], model: ModelArtifact) -> dict[str, Any]:
    options = {"query_path": data["query"].job_file, "eval_path": data["dataset"].job_file, "budgets": data["budgets"]}
    return options | (_teacher_start(model) if data.get("copy_start") == PUBLIC_TEACHER else {})


def _extraction_plan(line: PlanLine) -> PlanJob:
    if line.dataset is None:
        return PlanJob(None, line.model, NO_EVALUATION_SET)
    query = _latest_training_set(line.model.project_id)
    options, reason = privacy_plan.extraction_plan_options(
        line.params, query_images=_samples(query), has_teacher=line.model.parent_id is not None
    )
    if options is None:
        return PlanJob(None, line.model, reason)
    options |= {"query_path": query.job_file, "eval_path": line.dataset.job_file}
    if line.params.get("start") == PUBLIC_TEACHER:
        options |= _teacher_start(line.model)
    return PlanJob(options, line.model)


def _extraction_gate_plan(gate_params: dict[str, Any]) -> dict[str, Any]:
    """An extraction gate's plan line: a copy from scratch (the attacker without a head start) at its budget."""
    return {"start": SCRATCH, "budgets": [gate_params["budget"]]}


def _from_public_teacher(params: dict[str, Any]) -> bool:
    return params.get("start") == PUBLIC_TEACHER


MEMBERSHIP_INFERENCE = EvaluationKind(
    name="membership_inference",
    label="Membership inference",
    description="Whether the model's answers give away which records it was trained on (LiRA with shadow models).",
    engine_task="membership_inference",
    form=MembershipParams,
    file_params=("model_path", "data_path", "members_path", "non_members_path"),
    order=100,
    start_label="Membership inference (training data members vs the evaluation set)",
    run_fields={
        "members": lambda: fields.dataset(
            "Members (membership inference)", "A sample of the model's training data; the evaluation set is the rest."
        ),
        "shadow_models": lambda: forms.IntegerField(
            min_value=2,
            max_value=256,
            required=False,
            label="Shadow models",
            help_text="Blank: 16. More shadow models, a sharper test, a longer run.",
        ),
    },
    run_check=_membership_check,
    run_options=_membership_options,
    evidence=lambda result, eps, norm: privacy_evidence.membership_inference_evidence(result, eps),
    measurements=lambda result, given, eps, norm: privacy_evidence.membership_inference_measurements(
        result, given, eps
    ),
    plan=_membership_plan,
    gate_plans={MAX_MEMBERSHIP_AUC: lambda gate_params: {}},  # the plan's default shadow models
    needs_gradients=lambda options: True,  # trains shadow models of the model's architecture
    presenter=privacy_results.membership_inference_context,
    template="membership_inference",
)
EXTRACTION = EvaluationKind(
    name="extraction",
    label="Model extraction",
    description="How closely a copy trained on the model's answers agrees with it, at each query budget.",
    engine_task="extraction",
    form=ExtractionParams,
    file_params=("model_path", "data_path", "query_path", "eval_path", "copy_weights"),
    order=110,
    start_label="Model extraction (a copy trained on the model's answers)",
    run_fields={
        "query": lambda: fields.dataset(
            "Query images (extraction)", "Images the attacker sends to the model; their labels are never read."
        ),
        "budgets": lambda: BudgetsField(
            initial="100, 1000",
            required=False,
            label="Query budgets",
            help_text="Comma-separated numbers of queries; a copy is trained for each.",
        ),
        "copy_start": lambda: forms.ChoiceField(
            choices=[(SCRATCH, "From scratch"), (PUBLIC_TEACHER, "From the model's parent (a public teacher)")],
            initial=SCRATCH,
            required=False,
            label="The copy starts",
        ),
    },
    run_check=_extraction_check,
    run_options=_extraction_options,
    evidence=lambda result, eps, norm: privacy_evidence.extraction_evidence(result, eps),
    measurements=lambda result, given, eps, norm: privacy_evidence.extraction_measurements(result, given, eps),
    plan=_extraction_plan,
    gate_plans={MAX_EXTRACTION_AGREEMENT: _extraction_gate_plan},
    needs_gradients=lambda options: False,  # the model is only queried for its answers
    ran_planned=privacy_plan.extraction_ran_planned,
    plan_needs_teacher=_from_public_teacher,
    presenter=privacy_results.extraction_context,
    template="extraction",
)
KINDS = (MEMBERSHIP_INFERENCE, EXTRACTION)
