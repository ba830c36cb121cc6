from django.urls import path

from riskapp.dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.project_risk, name="risk"),
    path("teachers/", views.project_teachers, name="teachers"),
    path("trends/", views.project_trends, name="trends"),
    path("report/", views.project_report, name="report"),
    path("report.json", views.project_report_json, name="report_json"),
    path("report.pdf", views.project_report_pdf, name="report_pdf"),
    path("defectdojo.json", views.project_defectdojo, name="defectdojo"),
    path("ml-bom.cdx.json", views.project_cyclonedx, name="cyclonedx"),
]
