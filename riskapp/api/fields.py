"""Serializer fields of the API whose errors say how to fix the value, not only that it is wrong."""

from rest_framework import serializers

MAX_ECHO = 100  # characters of a bad value repeated in its error


class ChoiceField(serializers.ChoiceField):
    """DRF's ChoiceField; a value that is not a choice gets an error listing the choices."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            choices = ", ".join(map(str, self.choice_strings_to_values))
            raise serializers.ValidationError(
                f'"{str(data)[:MAX_ECHO]}" is not a valid choice; choose one of: {choices}.', code="invalid_choice"
            ) from None
