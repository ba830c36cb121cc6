from django.apps import AppConfig


class AssessmentsConfig(AppConfig):
    name = "riskapp.assessments"
    label = "assessments"

    def ready(self) -> None:
        # Projects depend on nothing of ours: we add the risk figures to their overview.
        from riskapp.assessments.overview import project_risk_summary
        from riskapp.projects.summary import summary_part_register

        summary_part_register(project_risk_summary)
