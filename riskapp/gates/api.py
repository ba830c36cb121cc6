"""Quality gates over the API: definitions with their current evaluation, owner edits, and the CI entry
point that queues a model's test plan. The same services and access rules as the Gates page."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from riskapp.api.fields import ChoiceField
from riskapp.api.throttles import JobCreateThrottle, ThrottleMessageMixin
from riskapp.artifacts.models import IntakeStatus
from riskapp.assessments.epsilon import DEFAULT_NORM
from riskapp.assessments.plan_runs import model_test_plan_start
from riskapp.evaluations.services import project_budget_of
from riskapp.gates import services
from riskapp.gates.evaluate import gates_evaluate, gates_passed
from riskapp.gates.forms import PARAM_NAMES, GateForm
from riskapp.gates.models import GateKind
from riskapp.gates.selectors import gate_for_project, model_for_project
from riskapp.gates.verdict import LABELS
from riskapp.projects.roles import Capability
from riskapp.projects.selectors import project_access


class GateOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="null: a default gate, derived from the answers.")
    kind = serializers.ChoiceField(choices=GateKind.choices)
    params = serializers.DictField(
        help_text=(
            "min_robust_accuracy: attack, eps, norm (inf or 2; default: the project's), threshold; "
            "max_transfer_success, max_membership_auc: threshold; "
            "max_extraction_agreement: threshold, budget."
        )
    )
    enabled = serializers.BooleanField()
    description = serializers.CharField(source="describe")
    default = serializers.BooleanField(
        source="is_default",
        help_text="A default derived from the answers; saving a gate of the same kind replaces it.",
    )
    default_from = serializers.CharField(help_text="Why the default is there; empty for a saved gate.")
    created_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class GateResultSerializer(serializers.Serializer):
    gate = GateOutputSerializer()
    status = serializers.CharField(help_text="passed, failed or not measured.")
    passed = serializers.BooleanField(allow_null=True, help_text="null: not measured yet (counts as failed for CI).")
    measured = serializers.JSONField(allow_null=True)
    message = serializers.CharField()
    job_id = serializers.IntegerField(allow_null=True)


class VerdictReasonSerializer(serializers.Serializer):
    text = serializers.CharField(help_text="Why, in plain language.")
    next_step = serializers.CharField(help_text="What to do about it.")


class VerdictSerializer(serializers.Serializer):
    """The ship verdict (gates/verdict.py), the same words as the project page and the report."""

    status = serializers.ChoiceField(choices=list(LABELS.items()))
    label = serializers.CharField()
    model = serializers.CharField(allow_null=True, help_text='The version judged ("name vN"); null: none yet.')
    reasons = VerdictReasonSerializer(many=True, help_text="The deciding reasons, most serious first (at most 5).")
    more_reasons = serializers.IntegerField(help_text="How many further reasons were left out.")


class EvaluationOutputSerializer(serializers.Serializer):
    model_id = serializers.IntegerField(allow_null=True)
    passed = serializers.BooleanField(help_text="Every enabled gate measured and passed.")
    gates = GateResultSerializer(many=True)


def _evaluation(project, model):
    results = gates_evaluate(project=project, model=model)
    return EvaluationOutputSerializer(
        {"model_id": model.pk if model else None, "passed": gates_passed(results), "gates": results}
    ).data


class GateInputSerializer(serializers.Serializer):
    kind = ChoiceField(choices=GateKind.choices)
    params = serializers.DictField(child=serializers.JSONField(), required=False, default=dict)
    enabled = serializers.BooleanField(required=False, default=True)

    def validate(self, data):
        unknown = sorted(set(data["params"]) - set(PARAM_NAMES))
        if unknown:
            raise serializers.ValidationError(
                {"params": {name: [f"Unknown parameter; known: {', '.join(PARAM_NAMES)}."] for name in unknown}}
            )
        project_norm = self.context.get("project_norm", DEFAULT_NORM)  # a gate's norm when params have none
        form = GateForm(
            data={"kind": data["kind"], "enabled": data["enabled"], **data["params"]}, project_norm=project_norm
        )
        if not form.is_valid():
            errors = dict(form.errors)
            kind_errors = errors.pop("kind", None)
            raise serializers.ValidationError({"kind": kind_errors} if kind_errors else {"params": errors})
        return {"kind": form.cleaned_data["kind"], "params": form.params(), "enabled": form.cleaned_data["enabled"]}


def _input_context(project) -> dict[str, str]:
    return {"project_norm": project_budget_of(project).norm}


class GateListApi(APIView):
    @extend_schema(
        operation_id="gates_list",
        parameters=[OpenApiParameter("model", int, description="Evaluate the gates for this model.")],
        responses=EvaluationOutputSerializer,
    )
    def get(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id)
        model_id = request.query_params.get("model")
        # ASCII digits only: str.isdigit accepts "²" and other digits that int() cannot read.
        if model_id is not None and not (model_id.isascii() and model_id.isdigit()):
            raise serializers.ValidationError({"model": ["Give the id of a model of this project."]})
        model = model_for_project(project=access.project, model_id=int(model_id)) if model_id else None
        return Response(_evaluation(access.project, model))


class ModelGatesApi(APIView):
    @extend_schema(operation_id="models_gates", responses=EvaluationOutputSerializer)
    def get(self, request, project_id: int, model_id: int):
        access = project_access(user=request.user, project_id=project_id)
        return Response(_evaluation(access.project, model_for_project(project=access.project, model_id=model_id)))


class GateCreateApi(APIView):
    @extend_schema(operation_id="gates_create", request=GateInputSerializer, responses={201: GateOutputSerializer})
    def post(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        serializer = GateInputSerializer(data=request.data, context=_input_context(access.project))
        serializer.is_valid(raise_exception=True)
        gate = services.gate_create(actor=request.user, project=access.project, **serializer.validated_data)
        return Response(GateOutputSerializer(gate).data, status=status.HTTP_201_CREATED)


class GateUpdateApi(APIView):
    @extend_schema(operation_id="gates_update", request=GateInputSerializer, responses=GateOutputSerializer)
    def post(self, request, project_id: int, gate_id: int):
        access = project_access(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        gate = gate_for_project(project=access.project, gate_id=gate_id)
        serializer = GateInputSerializer(data=request.data, context=_input_context(access.project))
        serializer.is_valid(raise_exception=True)
        gate = services.gate_update(actor=request.user, gate=gate, **serializer.validated_data)
        return Response(GateOutputSerializer(gate).data)


class GateDeleteApi(APIView):
    @extend_schema(operation_id="gates_delete", request=None, responses={204: None})
    def post(self, request, project_id: int, gate_id: int):
        access = project_access(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        services.gate_delete(actor=request.user, gate=gate_for_project(project=access.project, gate_id=gate_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelTestPlanApi(ThrottleMessageMixin, APIView):
    throttle_classes = [JobCreateThrottle]

    class InputSerializer(serializers.Serializer):
        dataset_id = serializers.IntegerField(
            required=False, allow_null=True, help_text="Default: the project's latest ready evaluation dataset."
        )
        sample_limit = serializers.IntegerField(min_value=1, max_value=100_000, default=200)
        backdoor_steps = serializers.IntegerField(
            min_value=1, max_value=10_000, required=False, allow_null=True, help_text="Neural Cleanse steps."
        )

    class OutputSerializer(serializers.Serializer):
        class PlannedJobSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            kind = serializers.CharField()
            model_id = serializers.IntegerField(source="parameters.model_id")

        class SkippedSerializer(serializers.Serializer):
            kind = serializers.CharField()
            reason = serializers.CharField()

        model_id = serializers.IntegerField()
        dataset_id = serializers.IntegerField()
        jobs = PlannedJobSerializer(many=True)
        skipped = SkippedSerializer(many=True)

    @extend_schema(
        operation_id="models_test_plan",
        request=InputSerializer,
        responses={201: OutputSerializer, 400: OpenApiResponse(description="Bad input, or the model is not ready.")},
    )
    def post(self, request, project_id: int, model_id: int):
        access = project_access(user=request.user, project_id=project_id, capability=Capability.EDIT)
        model = model_for_project(project=access.project, model_id=model_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        dataset = None
        if data.get("dataset_id") is not None:
            dataset = access.project.datasets.filter(pk=data["dataset_id"], status=IntakeStatus.READY).first()
            if dataset is None:
                raise serializers.ValidationError(
                    {"dataset_id": ["Give a dataset of this project that passed intake."]}
                )
        try:
            started = model_test_plan_start(
                actor=request.user,
                model=model,
                dataset=dataset,
                sample_limit=data["sample_limit"],
                backdoor_steps=data.get("backdoor_steps"),
            )
        except DjangoValidationError as error:
            raise serializers.ValidationError({"detail": " ".join(error.messages)}) from None
        body = {
            "model_id": model.pk,
            "dataset_id": started.dataset.pk,
            "jobs": started.jobs,
            "skipped": started.skipped,
        }
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)
