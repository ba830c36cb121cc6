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


@register.filter
def measure(value: float | int | None, missing: str = "—") -> str:
    """A measured number as a reader wants it: whole numbers without decimals (2338), others to three decimals
    (0.606), very small ones to two significant digits (0.0042); `missing` when there is no value (a key the result
    does not have reaches a filter as "")."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return missing
    if float(value).is_integer():
        return f"{int(value)}"
    if abs(value) < 0.01:
        return f"{value:.2g}"
    return f"{value:.3f}".rstrip("0").rstrip(".")
