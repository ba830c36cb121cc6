from django.urls import path

from riskapp.dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.portfolio, name="portfolio"),
]
