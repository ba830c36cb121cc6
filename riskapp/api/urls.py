"""Every API route, under /api/v1/. One view per operation (reads GET, every change POST)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from riskapp.artifacts import api as artifacts
from riskapp.assessments import api as assessments
from riskapp.dashboards import api as dashboards
from riskapp.gates import api as gates
from riskapp.jobs import api as jobs
from riskapp.projects import api as projects

app_name = "api"

project_urls = [
    path("", dashboards.ProjectDetailApi.as_view(), name="project_detail"),
    path("update/", projects.ProjectUpdateApi.as_view(), name="project_update"),
    path("members/", projects.MemberListApi.as_view(), name="member_list"),
    path("members/add/", projects.MemberAddApi.as_view(), name="member_add"),
    path("members/<int:membership_id>/role/", projects.MemberSetRoleApi.as_view(), name="member_set_role"),
    path("members/<int:membership_id>/remove/", projects.MemberRemoveApi.as_view(), name="member_remove"),
    path("assessment/", assessments.AssessmentDetailApi.as_view(), name="assessment_detail"),
    path("assessment/questions/", assessments.QuestionListApi.as_view(), name="assessment_questions"),
    path("assessment/answers/", assessments.AnswerSetApi.as_view(), name="assessment_answers"),
    path("assessment/submit/", assessments.AssessmentSubmitApi.as_view(), name="assessment_submit"),
    path("assessment/review/", assessments.AssessmentReviewApi.as_view(), name="assessment_review"),
    path("risks/", assessments.RiskListApi.as_view(), name="risk_list"),
    path("risks/<str:threat_id>/", assessments.RiskDetailApi.as_view(), name="risk_detail"),
    path("risks/<str:threat_id>/treatment/", assessments.RiskTreatmentApi.as_view(), name="risk_treatment"),
    path("models/", artifacts.ModelListApi.as_view(), name="model_list"),
    path("models/upload/", artifacts.ModelUploadApi.as_view(), name="model_upload"),
    path("models/<int:model_id>/", artifacts.ModelDetailApi.as_view(), name="model_detail"),
    path("models/<int:model_id>/delete/", artifacts.ModelDeleteApi.as_view(), name="model_delete"),
    path("models/<int:model_id>/test-plan/", gates.ModelTestPlanApi.as_view(), name="model_test_plan"),
    path("models/<int:model_id>/gates/", gates.ModelGatesApi.as_view(), name="model_gates"),
    path("datasets/", artifacts.DatasetListApi.as_view(), name="dataset_list"),
    path("datasets/upload/", artifacts.DatasetUploadApi.as_view(), name="dataset_upload"),
    path("datasets/<int:dataset_id>/", artifacts.DatasetDetailApi.as_view(), name="dataset_detail"),
    path("datasets/<int:dataset_id>/delete/", artifacts.DatasetDeleteApi.as_view(), name="dataset_delete"),
    path("jobs/", jobs.JobListApi.as_view(), name="job_list"),
    path("jobs/create/", jobs.JobCreateApi.as_view(), name="job_create"),
    path("jobs/estimate/", jobs.JobEstimateApi.as_view(), name="job_estimate"),
    path("jobs/<int:job_id>/", jobs.JobDetailApi.as_view(), name="job_detail"),
    path("jobs/<int:job_id>/cancel/", jobs.JobCancelApi.as_view(), name="job_cancel"),
    path("jobs/<int:job_id>/result/", jobs.JobResultApi.as_view(), name="job_result"),
    path("jobs/<int:job_id>/files/<int:file_id>/", jobs.JobFileDownloadApi.as_view(), name="job_file"),
    path("gates/", gates.GateListApi.as_view(), name="gate_list"),
    path("gates/create/", gates.GateCreateApi.as_view(), name="gate_create"),
    path("gates/<int:gate_id>/update/", gates.GateUpdateApi.as_view(), name="gate_update"),
    path("gates/<int:gate_id>/delete/", gates.GateDeleteApi.as_view(), name="gate_delete"),
    path("reports/register/", assessments.RegisterReportApi.as_view(), name="report_register"),
    path("reports/assessment.md", assessments.AssessmentReportApi.as_view(), name="report_assessment"),
]

urlpatterns = [
    path("projects/", projects.ProjectListApi.as_view(), name="project_list"),
    path("projects/create/", projects.ProjectCreateApi.as_view(), name="project_create"),
    path("architectures/", artifacts.ArchitectureListApi.as_view(), name="architecture_list"),
    path("projects/<int:project_id>/", include(project_urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
]
