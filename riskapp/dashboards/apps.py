from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "riskapp.dashboards"
    label = "dashboards"

    def ready(self) -> None:
        from riskapp.dashboards import signals

        signals.connect()
