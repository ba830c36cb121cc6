from django import template

register = template.Library()


@register.filter
def zip_lists(first: list, second: list) -> list[tuple]:
    """Pairs of two equally long lists, for a table of a chart's x and y values."""
    return list(zip(first, second, strict=False))


@register.filter
def ci(value: float | None, count: int | None) -> str:
    """A measured share's 95% Wilson interval in words ("95% CI 0.520–0.660 over 200"); "" when not measured."""
    from riskapp.evaluations.results import uncertainty

    return uncertainty(value, count)
