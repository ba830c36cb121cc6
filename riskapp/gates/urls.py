from django.urls import path

from riskapp.gates import views

app_name = "gates"

urlpatterns = [
    path("", views.gate_list, name="list"),
    path("create/", views.gate_create, name="create"),
    path("<int:gate_id>/edit/", views.gate_edit, name="edit"),
    path("<int:gate_id>/delete/", views.gate_delete, name="delete"),
]
