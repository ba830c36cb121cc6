from django.urls import path

from riskapp.assessments import views

app_name = "assessments"

urlpatterns = [
    path("", views.questionnaire, name="questionnaire"),
    path("answer/", views.answer, name="answer"),
    path("status/", views.status_panel, name="status"),
    path("submit/", views.submit, name="submit"),
    path("review/", views.review, name="review"),
    path("register/", views.register, name="register"),
    path("register/<str:threat_id>/treatment/", views.treatment, name="treatment"),
    path("plan/run/", views.plan_run, name="plan_run"),
    path("plan/estimate/", views.plan_estimate, name="plan_estimate"),
    path("history/", views.history, name="history"),
    path("versions/<int:number>/", views.version_detail, name="version"),
    path("export/register.csv", views.export_register_csv, name="export_csv"),
    path("export/register.json", views.export_register_json, name="export_json"),
    path("export/assessment.md", views.export_markdown, name="export_markdown"),
    path("export/print/", views.export_print, name="export_print"),
]
