"""Projects and members over the API: the same services and access rules as the HTML views. A single project's
read, which carries its ship verdict, is riskapp.dashboards.api's (projects import no other app)."""

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from riskapp.api.fields import ChoiceField
from riskapp.api.pagination import Pagination, paginated_response
from riskapp.bands import APPETITE_CHOICES
from riskapp.projects import services
from riskapp.projects.models import Membership
from riskapp.projects.roles import Capability, Role
from riskapp.projects.selectors import memberships_for_user, project_access, project_memberships


class ProjectOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    risk_appetite = serializers.ChoiceField(choices=APPETITE_CHOICES)
    role = serializers.ChoiceField(choices=Role.choices, help_text="Your role in the project.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def project_data(project, role: str) -> dict:
    """A project as ProjectOutputSerializer reads it, with the user's `role` in it."""
    return {
        "id": project.pk,
        "name": project.name,
        "description": project.description,
        "risk_appetite": project.risk_appetite,
        "role": role,
        "created_at": project.created_at,
        "updated_at": project.updated_at,
    }


class ProjectInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    risk_appetite = ChoiceField(
        choices=APPETITE_CHOICES,
        help_text="The highest risk band the project accepts without a reviewer's sign-off.",
    )


class ProjectListApi(APIView):
    pagination_class = Pagination

    class OutputSerializer(ProjectOutputSerializer):
        pass

    @extend_schema(operation_id="projects_list", responses=OutputSerializer(many=True))
    def get(self, request):
        paginator = Pagination()
        page = paginator.paginate_queryset(memberships_for_user(user=request.user), request, view=self)
        items = [project_data(membership.project, membership.role) for membership in page]
        return paginator.get_paginated_response(self.OutputSerializer(items, many=True).data)


class ProjectCreateApi(APIView):
    class InputSerializer(ProjectInputSerializer):
        pass

    @extend_schema(operation_id="projects_create", request=InputSerializer, responses={201: ProjectOutputSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = services.project_create(user=request.user, **serializer.validated_data)
        return Response(ProjectOutputSerializer(project_data(project, Role.OWNER)).data, status=status.HTTP_201_CREATED)


class ProjectUpdateApi(APIView):
    class InputSerializer(ProjectInputSerializer):
        pass

    @extend_schema(operation_id="projects_update", request=InputSerializer, responses=ProjectOutputSerializer)
    def post(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = services.project_update(actor=request.user, project=access.project, **serializer.validated_data)
        return Response(ProjectOutputSerializer(project_data(project, access.role)).data)


class MembershipOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Role.choices)
    created_at = serializers.DateTimeField()


class MemberListApi(APIView):
    pagination_class = Pagination

    class OutputSerializer(MembershipOutputSerializer):
        pass

    @extend_schema(operation_id="members_list", responses=OutputSerializer(many=True))
    def get(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id)
        return paginated_response(
            request=request,
            view=self,
            items=project_memberships(project=access.project),
            serializer_class=self.OutputSerializer,
        )


class MemberAddApi(APIView):
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150, help_text="An existing, active riskapp user.")
        role = ChoiceField(choices=Role.choices)

        def validate_username(self, value: str):
            user = get_user_model().objects.filter(username=value.strip(), is_active=True).first()
            if user is None:
                raise serializers.ValidationError(
                    f"No active user is called {value.strip()!r}. Ask an administrator to create the account first."
                )
            return user

    @extend_schema(operation_id="members_add", request=InputSerializer, responses={201: MembershipOutputSerializer})
    def post(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_add(
            actor=request.user,
            project=access.project,
            user=serializer.validated_data["username"],
            role=serializer.validated_data["role"],
        )
        return Response(MembershipOutputSerializer(membership).data, status=status.HTTP_201_CREATED)


def _membership(access, membership_id: int) -> Membership:
    # Looked up through the project: another project's membership id answers 404.
    return get_object_or_404(access.project.memberships.select_related("user"), pk=membership_id)


class MemberSetRoleApi(APIView):
    class InputSerializer(serializers.Serializer):
        role = ChoiceField(choices=Role.choices)

    @extend_schema(operation_id="members_set_role", request=InputSerializer, responses=MembershipOutputSerializer)
    def post(self, request, project_id: int, membership_id: int):
        access = project_access(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        membership = _membership(access, membership_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_set_role(
            actor=request.user, membership=membership, role=serializer.validated_data["role"]
        )
        return Response(MembershipOutputSerializer(membership).data)


class MemberRemoveApi(APIView):
    @extend_schema(operation_id="members_remove", request=None, responses={204: None})
    def post(self, request, project_id: int, membership_id: int):
        access = project_access(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        services.membership_remove(actor=request.user, membership=_membership(access, membership_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
