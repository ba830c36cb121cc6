from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "riskapp.jobs"
    label = "jobs"
