from django.apps import AppConfig


class ArtifactsConfig(AppConfig):
    name = "riskapp.artifacts"
    label = "artifacts"

    def ready(self) -> None:
        from riskapp.artifacts.kinds import register_artifact_kinds

        register_artifact_kinds()
