from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "riskapp.dashboards"
    label = "dashboards"

    def ready(self) -> None:
        from riskapp.dashboards import signals
        from riskapp.dashboards.overview import project_overview
        from riskapp.projects.overview import overview_part_register

        signals.connect()
        # Projects depend on no other app: the overview's figures, verdict and jobs come from here.
        overview_part_register(project_overview)
