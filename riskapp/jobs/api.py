"""Jobs over the API: create one by kind with validated parameters, follow its status and progress,
cancel it, read its result and files. The same services and access rules as the HTML views."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from riskapp.api.errors import Conflict
from riskapp.api.fields import ChoiceField
from riskapp.api.pagination import Pagination, paginated_response
from riskapp.api.throttles import JobCreateThrottle, ThrottleMessageMixin
from riskapp.evaluations.estimates import evaluation_estimate
from riskapp.evaluations.forms import evaluation_form_for, kind_choices
from riskapp.jobs import services
from riskapp.jobs.kinds import KINDS
from riskapp.jobs.models import Job, JobStatus
from riskapp.jobs.selectors import job_for_project, jobs_for_project
from riskapp.jobs.starting import ParameterErrors, parameter_errors, refuse_unknown
from riskapp.projects.roles import Capability
from riskapp.projects.selectors import project_access
from riskapp.user_json import user_json_check


def startable_kinds() -> list[tuple[str, str]]:
    """Kinds a user may start: the project page's, and those started on a model (validation, security tests)."""
    return [
        (kind.name, kind.start_label or kind.label)
        for kind in KINDS.values()
        if kind.user_startable or kind.start is not None
    ]


def parameters_help() -> str:
    """The API's help for `parameters`: each kind a user may start with the parameters it takes, from the kinds'
    declarations, so a new kind is described as soon as it is registered."""
    startable = {name for name, _ in startable_kinds()}
    lines = [f"{kind.name}: {', '.join(kind.api_parameters())}." for kind in KINDS.values() if kind.name in startable]
    return " ".join(["By kind.", *lines])


class JobFileSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    size = serializers.IntegerField()


class JobOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    parameters = serializers.DictField()
    is_finished = serializers.BooleanField()

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "queue",
            "status",
            "is_finished",
            "progress",
            "progress_message",
            "cancel_requested",
            "attempts",
            "parameters",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]


class JobDetailOutputSerializer(JobOutputSerializer):
    files = JobFileSerializer(many=True, source="files.all")

    class Meta(JobOutputSerializer.Meta):
        fields = [*JobOutputSerializer.Meta.fields, "files"]


class JobListApi(APIView):
    pagination_class = Pagination

    class FilterSerializer(serializers.Serializer):
        status = ChoiceField(choices=JobStatus.choices, required=False)
        kind = serializers.CharField(required=False)

    class OutputSerializer(JobOutputSerializer):
        class Meta(JobOutputSerializer.Meta):
            pass

    @extend_schema(operation_id="jobs_list", parameters=[FilterSerializer], responses=OutputSerializer(many=True))
    def get(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        jobs = jobs_for_project(project=access.project).filter(**filters.validated_data)
        return paginated_response(request=request, view=self, items=jobs, serializer_class=self.OutputSerializer)


class JobDetailApi(APIView):
    @extend_schema(operation_id="jobs_retrieve", responses=JobDetailOutputSerializer)
    def get(self, request, project_id: int, job_id: int):
        access = project_access(user=request.user, project_id=project_id)
        return Response(JobDetailOutputSerializer(job_for_project(project=access.project, job_id=job_id)).data)


def job_start(*, user, project, kind: str, parameters: dict[str, Any]) -> Job:
    """Start a job of any user-startable kind: through its kind's `start` (the service that owns it), or with its
    parameters checked by its form; field-named errors on bad input."""
    job_kind = KINDS[kind]
    try:
        if job_kind.start is not None:
            return job_kind.start(user=user, project=project, kind=kind, parameters=parameters)
        refuse_unknown(parameters, job_kind.form.base_fields)
    except ParameterErrors as error:
        raise serializers.ValidationError({"parameters": error.errors}) from None
    form = job_kind.form(data={name: field.initial for name, field in job_kind.form.base_fields.items()} | parameters)
    if not form.is_valid():
        raise serializers.ValidationError({"parameters": parameter_errors(form, {})})
    return services.job_create(user=user, project=project, kind=kind, parameters=parameters)


class JobCreateApi(ThrottleMessageMixin, APIView):
    throttle_classes = [JobCreateThrottle]

    class InputSerializer(serializers.Serializer):
        kind = ChoiceField(choices=())
        parameters = serializers.DictField(
            child=serializers.JSONField(),
            required=False,
            default=dict,
        )

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # The registry is complete once the apps are ready: the choices and the help are read from it here.
            self.fields["kind"].choices = startable_kinds()
            self.fields["parameters"].help_text = parameters_help()

        def validate_parameters(self, value: dict[str, Any]) -> dict[str, Any]:
            try:
                return user_json_check(value)
            except DjangoValidationError as error:
                raise serializers.ValidationError(error.messages) from None

    @extend_schema(
        operation_id="jobs_create",
        request=InputSerializer,
        responses={
            201: JobDetailOutputSerializer,
            400: OpenApiResponse(description="Bad input: field → messages, parameters by name."),
            429: OpenApiResponse(description="Too many new jobs; Retry-After says when to try again."),
        },
    )
    def post(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id, capability=Capability.EDIT)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = job_start(user=request.user, project=access.project, **serializer.validated_data)
        return Response(JobDetailOutputSerializer(job).data, status=status.HTTP_201_CREATED)


class JobCancelApi(APIView):
    @extend_schema(
        operation_id="jobs_cancel",
        request=None,
        responses={200: JobDetailOutputSerializer, 409: OpenApiResponse(description="The job has finished already.")},
    )
    def post(self, request, project_id: int, job_id: int):
        access = project_access(user=request.user, project_id=project_id, capability=Capability.EDIT)
        job = job_for_project(project=access.project, job_id=job_id)
        try:
            job = services.job_cancel(actor=request.user, job=job)
        except DjangoValidationError as error:
            raise Conflict(" ".join(error.messages)) from None
        return Response(JobDetailOutputSerializer(job).data)


class JobResultApi(APIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.ChoiceField(choices=JobStatus.choices)
        result = serializers.JSONField(allow_null=True, help_text="The engine's result document, by kind.")
        error = serializers.CharField()
        files = JobFileSerializer(many=True, source="files.all")

    @extend_schema(
        operation_id="jobs_result",
        responses={200: OutputSerializer, 409: OpenApiResponse(description="The job has not finished yet.")},
    )
    def get(self, request, project_id: int, job_id: int):
        access = project_access(user=request.user, project_id=project_id)
        job = job_for_project(project=access.project, job_id=job_id)
        if not job.is_finished:
            raise Conflict(f"Job {job.pk} is {job.status} ({job.progress}%): its result is ready once it has finished.")
        return Response(self.OutputSerializer(job).data)


class JobFileDownloadApi(APIView):
    @extend_schema(
        operation_id="jobs_file_download",
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY)},
    )
    def get(self, request, project_id: int, job_id: int, file_id: int):
        access = project_access(user=request.user, project_id=project_id)
        job = job_for_project(project=access.project, job_id=job_id)
        job_file = get_object_or_404(job.files, pk=file_id)
        response = FileResponse(job_file.file.open("rb"), as_attachment=True, filename=job_file.name.replace("/", "_"))
        response["Content-Type"] = "application/octet-stream"  # as documented, whatever the file's name suggests
        response["X-Content-Type-Options"] = "nosniff"
        return response


class JobEstimateApi(APIView):
    """How long a security test would take at most, before it is queued (nothing is queued)."""

    class InputSerializer(serializers.Serializer):
        kind = ChoiceField(choices=())
        parameters = serializers.DictField(
            child=serializers.JSONField(), required=False, default=dict, help_text="As for jobs/create/."
        )

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.fields["kind"].choices = kind_choices()  # the registry is complete once the apps are ready

        def validate_parameters(self, value: dict[str, Any]) -> dict[str, Any]:
            try:
                return user_json_check(value)
            except DjangoValidationError as error:
                raise serializers.ValidationError(error.messages) from None

    class OutputSerializer(serializers.Serializer):
        seconds = serializers.FloatField(
            allow_null=True, help_text="At most, on a worker like the one that timed the model; null: not timed."
        )
        text = serializers.CharField()

    @extend_schema(
        operation_id="jobs_estimate",
        request=InputSerializer,
        responses={200: OutputSerializer, 400: OpenApiResponse(description="Bad input, as for jobs/create/.")},
    )
    def post(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id, capability=Capability.EDIT)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        kind, parameters = serializer.validated_data["kind"], serializer.validated_data["parameters"]
        try:
            model, form = evaluation_form_for(project=access.project, kind=kind, parameters=parameters)
        except ParameterErrors as error:
            raise serializers.ValidationError({"parameters": error.errors}) from None
        estimate = evaluation_estimate(
            kind=kind,
            model=model,
            dataset=form.cleaned_data["dataset"],
            teacher=form.cleaned_data.get("teacher"),
            options=form.options(),
        )
        return Response(self.OutputSerializer({"seconds": estimate.seconds, "text": estimate.text}).data)
