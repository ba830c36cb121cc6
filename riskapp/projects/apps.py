from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "riskapp.projects"
    label = "projects"
