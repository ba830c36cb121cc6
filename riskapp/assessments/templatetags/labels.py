"""{% load labels %}: riskapp.labels in templates: `{{ kind|label }}`, `{{ sentence|plain }}` and a plan line's
parameters in words, `{{ params|plan_params }}`."""

from django import template

from riskapp import labels
from riskapp.assessments.plan_words import plan_params_words

register = template.Library()


@register.filter
def label(identifier: str) -> str:
    return labels.label(str(identifier))


@register.filter
def plain(text: str) -> str:
    return labels.plain(text)


@register.filter
def plan_params(params: dict) -> str:
    return plan_params_words(params)


@register.filter
def attack(name: str) -> str:
    """An attack's name for people: `{{ "pgd_linf"|attack }}` is "PGD L∞"."""
    return labels.attack_label(str(name))
