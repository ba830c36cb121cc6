from django.urls import path

from riskapp.jobs import views

app_name = "jobs"

urlpatterns = [
    path("", views.job_list_partial, name="list"),
    path("new/", views.job_create, name="create"),
    path("<int:job_id>/", views.job_detail, name="detail"),
    path("<int:job_id>/progress/", views.job_progress_partial, name="progress"),
    path("<int:job_id>/cancel/", views.job_cancel, name="cancel"),
    path("<int:job_id>/files/<int:file_id>/", views.job_file_download, name="file"),
    path("<int:job_id>/images/<int:file_id>/", views.job_file_image, name="image"),
]
