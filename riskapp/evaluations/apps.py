from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    """The tests run on a project's models (evasion, backdoor, lineage): job kinds, forms and evidence."""

    name = "riskapp.evaluations"
    label = "evaluations"

    def ready(self) -> None:
        from riskapp.evaluations.kinds import register_evaluation_kinds

        register_evaluation_kinds()
