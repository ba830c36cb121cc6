from django.urls import include, path

from riskapp.projects import views

app_name = "projects"

urlpatterns = [
    path("", views.project_list, name="list"),
    path("new/", views.project_create, name="create"),
    path("<int:project_id>/", views.project_detail, name="detail"),
    path("<int:project_id>/settings/", views.project_settings, name="settings"),
    path("<int:project_id>/members/", views.member_list, name="members"),
    path("<int:project_id>/members/add/", views.member_add, name="member_add"),
    path("<int:project_id>/members/<int:membership_id>/", views.member_update, name="member_update"),
    path("<int:project_id>/jobs/", include("riskapp.jobs.urls")),
    path("<int:project_id>/assessment/", include("riskapp.assessments.urls")),
    path("<int:project_id>/models/", include("riskapp.artifacts.urls")),
    path("<int:project_id>/risk/", include("riskapp.dashboards.project_urls")),
    path("<int:project_id>/gates/", include("riskapp.gates.urls")),
]
