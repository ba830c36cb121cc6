"""The OpenAPI schema's generator: unique component names for the input and output serializers nested in views,
and the error responses every operation can give, in the API's one error shape (see riskapp.api.errors)."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers

# Free-form: field -> messages, nested by parameter or question id, or "detail" for the request as a whole.
BAD_INPUT = {
    "type": "object",
    "additionalProperties": {},
    "description": 'Field name → list of messages (nested by parameter or question id); "detail": what is wrong '
    "with the request as a whole.",
}


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong and what to do about it.")


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer, direction) -> str:
        """ProjectCreateApi.InputSerializer -> ProjectCreateInput: every view has its own InputSerializer."""
        parts = type(serializer).__qualname__.split(".")
        return "".join(part.removesuffix("Api").removesuffix("Serializer") for part in parts)

    def _get_response_bodies(self, direction="response"):
        """The operation's own responses, plus the errors it can answer with, each with its body."""
        responses = super()._get_response_bodies(direction)
        for code, description in self._error_codes().items():
            responses.setdefault(code, {"description": description})
        for code, response in responses.items():
            if code.startswith("4") and "content" not in response:  # declared with a description only
                body = BAD_INPUT if code == "400" else ErrorSerializer
                response["content"] = self._get_response_for_code(body, code, direction=direction)["content"]
        return dict(sorted(responses.items()))

    def _error_codes(self) -> dict[str, str]:
        codes = {"401": "No valid API token (or signed-in session)."}
        changes = self.method != "GET"
        paginated = getattr(self.view, "pagination_class", None) is not None
        if changes or paginated or self.get_override_parameters():
            codes["400"] = "Bad input: each field (or query parameter) with what is wrong and how to fix it."
        if changes and "{project_id}" in self.path:
            codes["403"] = "Your role in the project does not allow this."
        if "{" in self.path or paginated:
            codes["404"] = "No such project, object or page, or the object belongs to a project you are not in."
        if changes:
            codes["415"] = "The body is not in a media type this operation accepts."
        if getattr(self.view, "throttle_classes", None):
            codes["429"] = "Too many requests of this kind; Retry-After says when to try again."
        return codes
