from django import template

register = template.Library()


@register.filter
def zip_lists(first: list, second: list) -> list[tuple]:
    """Pairs of two equally long lists, for a table of a chart's x and y values."""
    return list(zip(first, second, strict=False))
