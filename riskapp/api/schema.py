"""The OpenAPI schema's generator: unique component names for the input and output serializers nested in views."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer, direction) -> str:
        """ProjectCreateApi.InputSerializer -> ProjectCreateInput: every view has its own InputSerializer."""
        parts = type(serializer).__qualname__.split(".")
        return "".join(part.removesuffix("Api").removesuffix("Serializer") for part in parts)
