from django.urls import path

from riskapp.artifacts import views

app_name = "artifacts"

urlpatterns = [
    path("", views.inventory, name="inventory"),
    path("upload/", views.model_upload, name="model_upload"),
    path("architectures/", views.architecture_search, name="architectures"),
    path("<int:model_id>/", views.model_detail, name="model"),
    path("<int:model_id>/edit/", views.model_edit, name="model_edit"),
    path("<int:model_id>/validate/", views.model_validate, name="model_validate"),
    path("<int:model_id>/evaluate/", views.model_evaluate, name="model_evaluate"),
    path("<int:model_id>/estimate/", views.model_estimate, name="model_estimate"),
    path("<int:model_id>/download/", views.model_download, name="model_download"),
    path("<int:model_id>/delete/", views.model_delete, name="model_delete"),
    path("datasets/upload/", views.dataset_upload, name="dataset_upload"),
    path("datasets/demo/", views.dataset_demo, name="dataset_demo"),
    path("datasets/<int:dataset_id>/", views.dataset_detail, name="dataset"),
    path("datasets/<int:dataset_id>/download/", views.dataset_download, name="dataset_download"),
    path("datasets/<int:dataset_id>/delete/", views.dataset_delete, name="dataset_delete"),
]
