"""Models and datasets over the API: uploads go through the same streaming intake as the browser's."""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from riskapp.api.errors import PayloadTooLarge
from riskapp.api.fields import ChoiceField
from riskapp.api.pagination import Pagination, paginated_response
from riskapp.api.throttles import ThrottleMessageMixin, UploadThrottle
from riskapp.artifacts import services
from riskapp.artifacts.cards import architecture_problem, preprocessing_problem
from riskapp.artifacts.forms import MAX_CLASSES, MIN_CLASSES
from riskapp.artifacts.models import DatasetArtifact, DatasetPurpose, IntakeStatus, ModelArtifact, ModelRole
from riskapp.artifacts.prechecks import upload_refusal
from riskapp.artifacts.uploads import LimitedHashingUploadHandler
from riskapp.gates.api import VerdictSerializer
from riskapp.gates.selectors import model_verdict, models_with_verdicts
from riskapp.projects.roles import Capability
from riskapp.projects.selectors import project_access
from riskapp.user_json import user_json_parse

FILE_FIELD = "file"


class ModelOutputSerializer(serializers.ModelSerializer):
    parent_id = serializers.IntegerField(allow_null=True, help_text="The teacher, a model of this project.")
    previous_version_id = serializers.IntegerField(allow_null=True)
    intake_job_id = serializers.IntegerField(allow_null=True, help_text="The job that scans and loads the file.")
    input_shape = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    class_names = serializers.ListField(child=serializers.CharField())
    preprocessing = serializers.DictField()
    provenance = serializers.JSONField(
        read_only=True,
        help_text="How riskapp made this version (a hardening job's card, job and source model); empty for uploads.",
    )

    class Meta:
        model = ModelArtifact
        fields = [
            "id",
            "name",
            "version",
            "role",
            "status",
            "status_message",
            "format",
            "original_name",
            "sha256",
            "size",
            "architecture",
            "num_classes",
            "parent_id",
            "previous_version_id",
            "teacher_name",
            "teacher_url",
            "teacher_sha256",
            "teacher_licence",
            "input_shape",
            "class_names",
            "preprocessing",
            "input_min",
            "input_max",
            "intake_job_id",
            "provenance",
            "created_at",
        ]


class ModelDetailOutputSerializer(ModelOutputSerializer):
    scan = serializers.JSONField(allow_null=True, help_text="The intake's static scan of the file.")
    intake = serializers.JSONField(allow_null=True, help_text="What the intake's safe load found.")

    class Meta(ModelOutputSerializer.Meta):
        fields = [*ModelOutputSerializer.Meta.fields, "scan", "intake"]


class DatasetOutputSerializer(serializers.ModelSerializer):
    intake_job_id = serializers.IntegerField(allow_null=True, help_text="The job that scans and loads the file.")

    class Meta:
        model = DatasetArtifact
        fields = [
            "id",
            "name",
            "purpose",
            "status",
            "status_message",
            "format",
            "original_name",
            "sha256",
            "size",
            "intake_job_id",
            "created_at",
        ]


class DatasetDetailOutputSerializer(DatasetOutputSerializer):
    scan = serializers.JSONField(allow_null=True, help_text="The intake's static scan of the file.")
    intake = serializers.JSONField(allow_null=True, help_text="What the intake's safe load found.")

    class Meta(DatasetOutputSerializer.Meta):
        fields = [*DatasetOutputSerializer.Meta.fields, "scan", "intake"]


class ModelListApi(APIView):
    pagination_class = Pagination

    class OutputSerializer(ModelOutputSerializer):
        verdict = VerdictSerializer(help_text="The ship verdict of this version.")

        class Meta(ModelOutputSerializer.Meta):
            fields = [*ModelOutputSerializer.Meta.fields, "verdict"]

    @extend_schema(operation_id="models_list", responses=OutputSerializer(many=True))
    def get(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id)
        paginator = Pagination()
        page = paginator.paginate_queryset(
            access.project.models.select_related("parent").order_by("name", "-id"), request, view=self
        )
        page = models_with_verdicts(project=access.project, models=page)  # a fixed number of queries per page
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class ModelVerdictOutputSerializer(ModelDetailOutputSerializer):
    verdict = VerdictSerializer(help_text="The ship verdict of this version.")

    class Meta(ModelDetailOutputSerializer.Meta):
        fields = [*ModelDetailOutputSerializer.Meta.fields, "verdict"]


class ModelDetailApi(APIView):
    @extend_schema(operation_id="models_retrieve", responses=ModelVerdictOutputSerializer)
    def get(self, request, project_id: int, model_id: int):
        access = project_access(user=request.user, project_id=project_id)
        model = get_object_or_404(access.project.models.select_related("parent"), pk=model_id)
        model.verdict = model_verdict(project=access.project, model=model)
        return Response(ModelVerdictOutputSerializer(model).data)


class DatasetListApi(APIView):
    pagination_class = Pagination

    class OutputSerializer(DatasetOutputSerializer):
        class Meta(DatasetOutputSerializer.Meta):
            pass

    @extend_schema(operation_id="datasets_list", responses=OutputSerializer(many=True))
    def get(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id)
        return paginated_response(
            request=request,
            view=self,
            items=access.project.datasets.order_by("name", "-id"),
            serializer_class=self.OutputSerializer,
        )


class DatasetDetailApi(APIView):
    @extend_schema(operation_id="datasets_retrieve", responses=DatasetDetailOutputSerializer)
    def get(self, request, project_id: int, dataset_id: int):
        access = project_access(user=request.user, project_id=project_id)
        return Response(DatasetDetailOutputSerializer(get_object_or_404(access.project.datasets, pk=dataset_id)).data)


DELETE_RESPONSES = {
    204: None,
    400: OpenApiResponse(description="Only an upload the intake check refused (status rejected) can be deleted."),
}


def _delete_refused(request, project_id: int, kind: str, artifact_id: int) -> Response:
    """Delete one of the project's models or datasets (`kind`: the project's related name) that the intake refused."""
    access = project_access(user=request.user, project_id=project_id, capability=Capability.EDIT)
    artifact = get_object_or_404(getattr(access.project, kind), pk=artifact_id)
    services.artifact_delete(actor=request.user, artifact=artifact)
    return Response(status=status.HTTP_204_NO_CONTENT)


class ModelDeleteApi(APIView):
    """Delete a model upload the intake refused, with its stored file (POST, or HTTP DELETE on the same URL)."""

    @extend_schema(operation_id="models_delete", request=None, responses=DELETE_RESPONSES)
    def post(self, request, project_id: int, model_id: int):
        return _delete_refused(request, project_id, "models", model_id)

    @extend_schema(operation_id="models_delete_http", request=None, responses=DELETE_RESPONSES)
    def delete(self, request, project_id: int, model_id: int):
        return _delete_refused(request, project_id, "models", model_id)


class DatasetDeleteApi(APIView):
    """Delete a dataset upload the intake refused, with its stored file (POST, or HTTP DELETE on the same URL)."""

    @extend_schema(operation_id="datasets_delete", request=None, responses=DELETE_RESPONSES)
    def post(self, request, project_id: int, dataset_id: int):
        return _delete_refused(request, project_id, "datasets", dataset_id)

    @extend_schema(operation_id="datasets_delete_http", request=None, responses=DELETE_RESPONSES)
    def delete(self, request, project_id: int, dataset_id: int):
        return _delete_refused(request, project_id, "datasets", dataset_id)


class StreamingUploadApi(ThrottleMessageMixin, APIView):
    """Multipart uploads that stream to disk under the upload limit, with their SHA-256 computed on the way.

    The limiting handler must be in place before anything reads the body, and session authentication's
    CSRF check reads it; so it is installed when the request arrives, before authentication."""

    parser_classes = [MultiPartParser]
    throttle_classes = [UploadThrottle]

    def initialize_request(self, request, *args, **kwargs):
        self.upload_limit = LimitedHashingUploadHandler(request, max_bytes=settings.UPLOAD_MAX_BYTES)
        request.upload_handlers.insert(0, self.upload_limit)
        return super().initialize_request(request, *args, **kwargs)

    def uploaded_data(self, request):
        """The parsed form; 413 when the file went over the limit (its temporary file is gone already)."""
        data = request.data  # parse now, through the limiting handler
        if self.upload_limit.too_large:
            raise PayloadTooLarge(
                f"The file is larger than the upload limit of {filesizeformat(settings.UPLOAD_MAX_BYTES)}. "
                "Upload a smaller file, or ask an administrator to raise RISKAPP_UPLOAD_MAX_BYTES."
            )
        return data

    def sha256(self) -> str:
        return self.upload_limit.sha256[FILE_FIELD]


def _prechecked(upload, *, kind: str):
    """The upload, or a 400 on its field when its name or first bytes already say it cannot be a `kind`."""
    refusal = upload_refusal(upload, kind=kind)
    if refusal:
        raise serializers.ValidationError(refusal)
    return upload


def _duplicate(duplicate: services.DuplicateUpload) -> Response:
    return Response(
        {"detail": duplicate.message, "existing_id": duplicate.existing.pk}, status=status.HTTP_409_CONFLICT
    )


UPLOAD_RESPONSES = {
    400: OpenApiResponse(description="Bad input: field → messages."),
    409: OpenApiResponse(description="The same file (same SHA-256) is in the project already: existing_id."),
    413: OpenApiResponse(description="The file is larger than RISKAPP_UPLOAD_MAX_BYTES."),
    429: OpenApiResponse(description="Too many uploads; Retry-After says when to try again."),
}


class ModelUploadApi(StreamingUploadApi):
    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(
            help_text="safetensors, a PyTorch state_dict (.pt/.pth), a Hugging Face model folder as one zip "
            "(config.json + model.safetensors) or ONNX."
        )
        name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        version = serializers.CharField(max_length=50, required=False, default="1")
        role = ChoiceField(choices=ModelRole.choices, required=False, default=ModelRole.OTHER)
        architecture = serializers.CharField(
            max_length=100,
            required=False,
            allow_blank=True,
            default="",
            help_text="Catalogue entry (python -m attacks architectures); empty for ONNX.",
        )
        num_classes = serializers.IntegerField(
            min_value=MIN_CLASSES, max_value=MAX_CLASSES, required=False, allow_null=True, default=None
        )
        parent_id = serializers.IntegerField(
            required=False, allow_null=True, default=None, help_text="The teacher, a model of this project."
        )
        previous_version_id = serializers.IntegerField(required=False, allow_null=True, default=None)
        teacher_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        teacher_url = serializers.URLField(max_length=200, required=False, allow_blank=True, default="")
        teacher_sha256 = serializers.RegexField(
            r"^[0-9a-fA-F]{64}$",
            required=False,
            allow_blank=True,
            default="",
            error_messages={"invalid": "A SHA-256 is 64 hexadecimal characters."},
        )
        teacher_licence = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        class_names = serializers.CharField(
            required=False, allow_blank=True, default="", help_text="Comma-separated, in output order."
        )
        input_shape = serializers.CharField(
            required=False, allow_blank=True, default="", help_text="One sample's shape, e.g. 1,8,8."
        )
        preprocessing = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            help_text='JSON overriding the library\'s defaults, e.g. {"mean": [0.5], "std": [0.5]}; keys: input_size, '
            "interpolation, crop_pct, scale, mean, std.",
        )
        input_min = serializers.FloatField(required=False, default=0.0)
        input_max = serializers.FloatField(required=False, default=1.0)

        def validate_file(self, value):
            return _prechecked(value, kind="model")

        def validate_architecture(self, value: str) -> str:
            problem = architecture_problem(value.strip())
            if problem:
                raise serializers.ValidationError(problem)
            return value.strip()

        def _project_model(self, model_id):
            if model_id is None:
                return None
            model = self.context["project"].models.filter(pk=model_id).first()
            if model is None:
                raise serializers.ValidationError(f"There is no model {model_id} in this project.")
            if model.status == IntakeStatus.REJECTED:
                raise serializers.ValidationError(
                    f"Model {model_id} was refused by the intake check; choose another model of this project."
                )
            return model

        def validate_parent_id(self, value):
            return self._project_model(value)

        def validate_previous_version_id(self, value):
            return self._project_model(value)

        def validate_class_names(self, value: str) -> list[str]:
            return [name.strip() for name in value.split(",") if name.strip()]

        def validate_input_shape(self, value: str):
            text = value.replace("×", ",").replace("x", ",").strip()
            if not text:
                return None
            try:
                shape = [int(part) for part in text.split(",") if part.strip()]
            except ValueError:
                raise serializers.ValidationError("Give the shape as whole numbers, e.g. 3,32,32.") from None
            if not 1 <= len(shape) <= 3 or any(dim < 1 for dim in shape):
                raise serializers.ValidationError("One sample's shape has 1 to 3 positive dimensions, e.g. 3,32,32.")
            return shape

        def validate_preprocessing(self, value: str) -> dict:
            if not value.strip():
                return {}
            try:
                parsed = user_json_parse(value)
            except DjangoValidationError as error:
                raise serializers.ValidationError(error.messages) from None
            if not isinstance(parsed, dict):
                raise serializers.ValidationError('Give an object, e.g. {"scale": 255}.')
            return parsed

        def validate(self, data):
            if data["input_min"] >= data["input_max"]:
                raise serializers.ValidationError(
                    {"input_max": "The valid input range must have its maximum above its minimum."}
                )
            problem = preprocessing_problem(data.get("architecture", ""), data.get("preprocessing"))
            if problem:
                raise serializers.ValidationError({"preprocessing": problem})
            return data

    @extend_schema(
        operation_id="models_upload",
        request={"multipart/form-data": InputSerializer},
        responses={201: ModelDetailOutputSerializer, **UPLOAD_RESPONSES},
    )
    def post(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id, capability=Capability.EDIT)
        serializer = self.InputSerializer(data=self.uploaded_data(request), context={"project": access.project})
        serializer.is_valid(raise_exception=True)
        card = dict(serializer.validated_data)
        upload = card.pop(FILE_FIELD)
        card["parent"] = card.pop("parent_id")
        card["previous_version"] = card.pop("previous_version_id")
        try:
            model = services.model_upload(
                actor=request.user, project=access.project, upload=upload, sha256=self.sha256(), card=card
            )
        except services.DuplicateUpload as duplicate:
            return _duplicate(duplicate)
        return Response(ModelDetailOutputSerializer(model).data, status=status.HTTP_201_CREATED)


class DatasetUploadApi(StreamingUploadApi):
    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(
            help_text=".npz with arrays x and y (and poison_mask, optional), or a zip of an image folder "
            "(one sub-folder per class; JPEG, PNG, WebP)."
        )
        name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        purpose = ChoiceField(choices=DatasetPurpose.choices)
        for_model_id = serializers.IntegerField(
            required=False,
            allow_null=True,
            default=None,
            help_text="For an image folder: decode the images with this model's input size, crop and interpolation, "
            "and match folder names to its class names (default 224×224 RGB, folders in alphabetical order).",
        )

        def validate_file(self, value):
            return _prechecked(value, kind="dataset")

        def validate_for_model_id(self, value):
            if value is None:
                return None
            model = self.context["project"].models.filter(pk=value, status=IntakeStatus.READY).first()
            if model is None:
                raise serializers.ValidationError(f"There is no model {value} that has passed intake in this project.")
            return model

    @extend_schema(
        operation_id="datasets_upload",
        request={"multipart/form-data": InputSerializer},
        responses={201: DatasetDetailOutputSerializer, **UPLOAD_RESPONSES},
    )
    def post(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id, capability=Capability.EDIT)
        serializer = self.InputSerializer(data=self.uploaded_data(request), context={"project": access.project})
        serializer.is_valid(raise_exception=True)
        try:
            dataset = services.dataset_upload(
                actor=request.user,
                project=access.project,
                upload=serializer.validated_data[FILE_FIELD],
                sha256=self.sha256(),
                name=serializer.validated_data["name"],
                purpose=serializer.validated_data["purpose"],
                for_model=serializer.validated_data["for_model_id"],
            )
        except services.DuplicateUpload as duplicate:
            return _duplicate(duplicate)
        return Response(DatasetDetailOutputSerializer(dataset).data, status=status.HTTP_201_CREATED)


class ArchitectureListApi(APIView):
    """The architecture catalogue: the project's small networks, every timm model, torchvision's classifiers.
    `search` keeps the names holding every word, best matches first."""

    class OutputSerializer(serializers.Serializer):
        name = serializers.CharField()
        description = serializers.CharField()
        source = serializers.CharField()
        input_shape = serializers.ListField(child=serializers.IntegerField())
        num_classes = serializers.IntegerField()
        parameters = serializers.IntegerField(allow_null=True)
        fixed_input_size = serializers.BooleanField()
        preprocessing = serializers.DictField()

    @extend_schema(
        operation_id="architectures_list",
        parameters=[
            OpenApiParameter("search", str, description="words every returned name holds, e.g. resnet50"),
            OpenApiParameter("limit", int, description="at most this many (default 50, at most 2000)"),
        ],
        responses={200: OutputSerializer(many=True)},
    )
    def get(self, request):
        from attacks.architectures import search  # reads the catalogue's data files; imports no torch

        try:
            limit = max(1, min(int(request.query_params.get("limit", 50)), 2000))
        except ValueError:
            limit = 50
        entries = search(request.query_params.get("search", "")[:100], limit=limit)
        return Response(self.OutputSerializer(entries, many=True).data)
