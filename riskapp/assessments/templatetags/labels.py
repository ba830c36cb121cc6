"""{% load labels %}: riskapp.labels in templates: `{{ kind|label }}` and `{{ sentence|plain }}`."""

from django import template

from riskapp import labels

register = template.Library()


@register.filter
def label(identifier: str) -> str:
    return labels.label(str(identifier))


@register.filter
def plain(text: str) -> str:
    return labels.plain(text)
