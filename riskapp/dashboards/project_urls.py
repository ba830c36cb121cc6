from django.urls import path

from riskapp.dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.project_risk, name="risk"),
]
