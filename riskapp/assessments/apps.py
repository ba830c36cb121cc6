from django.apps import AppConfig


class AssessmentsConfig(AppConfig):
    name = "riskapp.assessments"
    label = "assessments"
