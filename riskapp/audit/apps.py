from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "riskapp.audit"
    label = "audit"
