from django.apps import AppConfig


class GatesConfig(AppConfig):
    name = "riskapp.gates"
    label = "gates"
