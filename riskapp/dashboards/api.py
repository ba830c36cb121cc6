"""A project over the API with what the apps above projects add to it: the ship verdict. Projects import no
other app, so this operation lives here, in the layer that composes them; its route and JSON are the project's."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from riskapp.gates.api import VerdictSerializer
from riskapp.gates.selectors import project_verdict
from riskapp.projects.api import ProjectOutputSerializer, project_data
from riskapp.projects.selectors import project_access


class ProjectDetailApi(APIView):
    class OutputSerializer(ProjectOutputSerializer):
        verdict = VerdictSerializer(help_text="The ship verdict of the project's newest version that is not a teacher.")

    @extend_schema(operation_id="projects_retrieve", responses=OutputSerializer)
    def get(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id)
        data = project_data(access.project, access.role) | {"verdict": project_verdict(project=access.project)}
        return Response(self.OutputSerializer(data).data)
