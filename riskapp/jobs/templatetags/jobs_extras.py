import json

from django import template

from riskapp.jobs.kinds import KINDS

register = template.Library()


@register.filter
def job_kind_label(name: str) -> str:
    kind = KINDS.get(name)
    return kind.label if kind else name


@register.filter
def any_active(jobs) -> bool:
    return any(job.is_active for job in jobs)


@register.filter
def is_structured(value) -> bool:
    return isinstance(value, dict | list)


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True)
