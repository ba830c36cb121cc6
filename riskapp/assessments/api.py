"""Assessments, risks and reports over the API: the same services and access rules as the HTML views."""

from django.db import transaction
from django.http import Http404, HttpResponse
from django.template.loader import render_to_string
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from riskapp.api.fields import ChoiceField
from riskapp.api.pagination import Pagination, paginated_response
from riskapp.assessments import services
from riskapp.assessments.bank import answer_error, load_bank
from riskapp.assessments.models import AssessmentStatus, Treatment
from riskapp.assessments.register import register_document, register_snapshot
from riskapp.assessments.selectors import assessment_latest, questionnaire_sections
from riskapp.assessments.signoff import SignoffNeedsConfirmation
from riskapp.assessments.views import _report_context  # one builder for the print page, the export and this
from riskapp.bands import Band
from riskapp.projects.roles import Capability
from riskapp.projects.selectors import project_access


class RatingSerializer(serializers.Serializer):
    likelihood = serializers.IntegerField(min_value=1, max_value=5)
    impact = serializers.IntegerField(min_value=1, max_value=5)
    score = serializers.IntegerField(
        min_value=0, max_value=25, help_text="likelihood × impact; 0 for a threat not assessed yet."
    )
    band = serializers.ChoiceField(
        choices=Band.choices(),
        help_text="not_assessed: none of the threat's questions is answered yet (no rating, not a worst case).",
    )


class ScoresSerializer(serializers.Serializer):
    inherent = RatingSerializer()
    current = RatingSerializer()
    projected = RatingSerializer()


class AssessmentOutputSerializer(serializers.Serializer):
    version = serializers.IntegerField(allow_null=True, help_text="Null until the first answer is saved.")
    status = serializers.ChoiceField(choices=AssessmentStatus.choices, allow_null=True)
    bank_version = serializers.IntegerField()
    answers = serializers.DictField(
        child=serializers.JSONField(), help_text="Question id → answer (option value, list, number, text or date)."
    )
    answered = serializers.IntegerField(help_text="Answered questions among those that apply.")
    total = serializers.IntegerField(help_text="Questions that apply to these answers.")
    submitted_by = serializers.CharField(allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    reviewed_by = serializers.CharField(allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)
    review_comment = serializers.CharField()
    scores = serializers.DictField(child=ScoresSerializer(), help_text="Threat id → scores for these answers.")


def _assessment_data(project) -> dict:
    bank = load_bank()
    version = assessment_latest(project=project)
    answers = version.answers if version else {}
    sections = questionnaire_sections(bank, answers)
    return {
        "version": version.number if version else None,
        "status": version.status if version else None,
        "bank_version": version.bank_version if version else bank.version,
        "answers": answers,
        "answered": sum(section.answered for section in sections),
        "total": sum(section.total for section in sections),
        "submitted_by": version.submitted_by.get_username() if version and version.submitted_by else None,
        "submitted_at": version.submitted_at if version else None,
        "reviewed_by": version.reviewed_by.get_username() if version and version.reviewed_by else None,
        "reviewed_at": version.reviewed_at if version else None,
        "review_comment": version.review_comment if version else "",
        "scores": register_snapshot(project, answers)["risks"],
    }


class AssessmentDetailApi(APIView):
    @extend_schema(operation_id="assessment_retrieve", responses=AssessmentOutputSerializer)
    def get(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id)
        return Response(AssessmentOutputSerializer(_assessment_data(access.project)).data)


class QuestionListApi(APIView):
    """The questions that apply to the current answers (others are hidden by earlier answers), in order."""

    pagination_class = Pagination

    class OutputSerializer(serializers.Serializer):
        class OptionSerializer(serializers.Serializer):
            value = serializers.CharField()
            label = serializers.CharField()

        id = serializers.CharField(source="question.id")
        area = serializers.CharField(source="question.area")
        text = serializers.CharField(source="question.text")
        help = serializers.CharField(source="question.help")
        type = serializers.CharField(source="question.type")
        options = OptionSerializer(source="question.options", many=True)
        minimum = serializers.FloatField(source="question.minimum", allow_null=True)
        maximum = serializers.FloatField(source="question.maximum", allow_null=True)
        unit = serializers.CharField(source="question.unit")
        answer = serializers.JSONField(allow_null=True, help_text='Null when unanswered; "unknown" for don\'t know.')

    @extend_schema(operation_id="assessment_questions_list", responses=OutputSerializer(many=True))
    def get(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id)
        version = assessment_latest(project=access.project)
        sections = questionnaire_sections(load_bank(), version.answers if version else {})
        items = [item for section in sections for item in section.items]
        return paginated_response(request=request, view=self, items=items, serializer_class=self.OutputSerializer)


class AnswerSetApi(APIView):
    class InputSerializer(serializers.Serializer):
        answers = serializers.DictField(
            child=serializers.JSONField(allow_null=True),
            allow_empty=False,
            help_text="Question id → answer: an option value, a list of them (multiple choice), a number, text, a "
            'date (YYYY-MM-DD), "unknown" for don\'t know, or null to clear the answer.',
        )

        def validate_answers(self, answers: dict) -> dict:
            bank = load_bank()
            errors = {}
            for question_id, raw in answers.items():
                try:
                    question = bank.question(question_id)
                except KeyError:
                    errors[question_id] = f"There is no question {question_id!r} in the question bank."
                    continue
                error = None if raw in ("", [], None) else answer_error(question, raw)
                if error:
                    errors[question_id] = error
            if errors:
                raise serializers.ValidationError(errors)
            return answers

    @extend_schema(operation_id="assessment_answers_set", request=InputSerializer, responses=AssessmentOutputSerializer)
    def post(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id, capability=Capability.EDIT)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():  # all the answers or none
            for question_id, raw in serializer.validated_data["answers"].items():
                services.answer_set(actor=request.user, project=access.project, question_id=question_id, raw=raw)
        return Response(AssessmentOutputSerializer(_assessment_data(access.project)).data)


class ConfirmationSerializer(serializers.Serializer):
    """Signing off despite open problems (incomplete, failing gates, unaccepted risks above the appetite)."""

    confirm = serializers.BooleanField(
        required=False,
        default=False,
        help_text="True to sign off despite the problems a 400 listed (`problems`); needs a `reason`.",
    )
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="Why it is signed off despite the problems; kept in the audit log.",
    )


def _signoff_refused(error: SignoffNeedsConfirmation) -> ValidationError:
    """400 with the message and the problems, one sentence each."""
    return ValidationError({"detail": " ".join(error.messages), "problems": error.problems})


class AssessmentSubmitApi(APIView):
    class InputSerializer(ConfirmationSerializer):
        pass

    @extend_schema(operation_id="assessment_submit", request=InputSerializer, responses=AssessmentOutputSerializer)
    def post(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id, capability=Capability.EDIT)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = assessment_latest(project=access.project)
        if version is None:
            raise ValidationError({"detail": "Answer the questionnaire before submitting it."})
        try:
            services.assessment_submit(
                actor=request.user,
                version=version,
                confirmed=serializer.validated_data["confirm"],
                reason=serializer.validated_data["reason"],
            )
        except SignoffNeedsConfirmation as error:
            raise _signoff_refused(error) from None
        return Response(AssessmentOutputSerializer(_assessment_data(access.project)).data)


class AssessmentReviewApi(APIView):
    class InputSerializer(ConfirmationSerializer):
        action = ChoiceField(choices=[("approve", "Approve"), ("return", "Return to the assessors")])
        comment = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(operation_id="assessment_review", request=InputSerializer, responses=AssessmentOutputSerializer)
    def post(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id, capability=Capability.REVIEW)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = assessment_latest(project=access.project)
        if version is None:
            raise ValidationError({"detail": "There is no assessment to review yet."})
        comment = serializer.validated_data["comment"]
        if serializer.validated_data["action"] == "approve":
            try:
                services.assessment_approve(
                    actor=request.user,
                    version=version,
                    comment=comment,
                    confirmed=serializer.validated_data["confirm"],
                    reason=serializer.validated_data["reason"],
                )
            except SignoffNeedsConfirmation as error:
                raise _signoff_refused(error) from None
        else:
            services.assessment_return(actor=request.user, version=version, comment=comment)
        return Response(AssessmentOutputSerializer(_assessment_data(access.project)).data)


class RiskOutputSerializer(serializers.Serializer):
    threat = serializers.CharField(help_text="The threat's id in the catalogue.")
    name = serializers.CharField()
    atlas = serializers.ListField(child=serializers.CharField(), help_text="MITRE ATLAS technique ids.")
    owasp_ml = serializers.ListField(child=serializers.CharField(), help_text="OWASP ML Top 10 ids.")
    nist = serializers.CharField(allow_null=True, help_text="NIST AI 100-2 category.")
    inherent = RatingSerializer()
    current = RatingSerializer()
    projected = RatingSerializer()
    above_appetite = serializers.BooleanField()
    treatment = serializers.ChoiceField(choices=Treatment.choices, allow_null=True)
    owner = serializers.CharField(allow_null=True)
    expires_on = serializers.DateField(allow_null=True)
    acceptance_overdue = serializers.BooleanField()
    evidence = serializers.ListField(child=serializers.CharField(), help_text="Evidence kinds that re-scored it.")
    evidence_requests = serializers.ListField(
        child=serializers.CharField(),
        help_text="Stronger measurements the evidence asks for before it may lower this risk (e.g. AutoAttack).",
    )
    why = serializers.ListField(child=serializers.CharField(), help_text="Each answer or evidence that moved it.")


class RiskListApi(APIView):
    """The risk register: every threat of the catalogue scored for the project, highest current risk first."""

    pagination_class = Pagination

    class OutputSerializer(RiskOutputSerializer):
        pass

    @extend_schema(operation_id="risks_list", responses=OutputSerializer(many=True))
    def get(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id)
        risks = register_document(access.project)["risks"]
        return paginated_response(request=request, view=self, items=risks, serializer_class=self.OutputSerializer)


def _risk(project, threat_id: str) -> dict:
    for risk in register_document(project)["risks"]:
        if risk["threat"] == threat_id:
            return risk
    raise Http404("No such threat.")


class RiskDetailApi(APIView):
    @extend_schema(operation_id="risks_retrieve", responses=RiskOutputSerializer)
    def get(self, request, project_id: int, threat_id: str):
        access = project_access(user=request.user, project_id=project_id)
        return Response(RiskOutputSerializer(_risk(access.project, threat_id)).data)


class RiskTreatmentApi(APIView):
    """Choose how a risk is treated; accepting needs an owner, a rationale and a future review date."""

    class InputSerializer(serializers.Serializer):
        treatment = ChoiceField(choices=Treatment.choices)
        owner = serializers.CharField(
            required=False, allow_null=True, default=None, help_text="Username of a project member."
        )
        rationale = serializers.CharField(required=False, allow_blank=True, default="")
        expires_on = serializers.DateField(required=False, allow_null=True, default=None, help_text="Review by.")

        def validate_owner(self, username):
            if not username:
                return None
            owner = self.context["project"].members.filter(username=username).first()
            if owner is None:
                raise serializers.ValidationError(f"{username!r} is not a member of this project.")
            return owner

    @extend_schema(operation_id="risks_treatment_set", request=InputSerializer, responses=RiskOutputSerializer)
    def post(self, request, project_id: int, threat_id: str):
        access = project_access(user=request.user, project_id=project_id)
        if not (access.can_edit or access.can_review):
            raise PermissionDenied("Your role does not allow choosing risk treatments.")
        try:
            load_bank().threat(threat_id)
        except KeyError:
            raise Http404("No such threat.") from None
        serializer = self.InputSerializer(data=request.data, context={"project": access.project})
        serializer.is_valid(raise_exception=True)
        services.treatment_set(
            actor=request.user,
            project=access.project,
            threat_id=threat_id,
            actor_can_review=access.can_review,
            **serializer.validated_data,
        )
        return Response(RiskOutputSerializer(_risk(access.project, threat_id)).data)


class RegisterReportApi(APIView):
    """The risk register as one document: the same as the JSON export of the register page."""

    @extend_schema(operation_id="reports_register", responses=OpenApiTypes.OBJECT)
    def get(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id)
        return Response(register_document(access.project))


class AssessmentReportApi(APIView):
    """The whole assessment as Markdown: the same document as the assessment page's Markdown export."""

    @extend_schema(
        operation_id="reports_assessment_markdown",
        responses={(200, "text/markdown"): OpenApiResponse(OpenApiTypes.STR, description="The report, in Markdown.")},
    )
    def get(self, request, project_id: int):
        access = project_access(user=request.user, project_id=project_id)
        response = HttpResponse(
            render_to_string("assessments/assessment.md", _report_context(access)),
            content_type="text/markdown; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="riskapp-assessment-{access.project.pk}.md"'
        return response
