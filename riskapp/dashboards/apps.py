from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "riskapp.dashboards"
    label = "dashboards"
