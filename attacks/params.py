"""Reading an engine task's numeric parameters, with errors a user can act on."""

from __future__ import annotations

from typing import Any

from attacks.context import UserError


def int_param(params: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = params.get(key)
    try:
        number = default if value is None else int(value)
    except (TypeError, ValueError):
        raise UserError(f"{key} must be a whole number, not {value!r}.") from None
    if not low <= number <= high:
        raise UserError(f"{key} must be between {low} and {high}.")
    return number


def float_param(params: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = params.get(key)
    try:
        number = default if value is None else float(value)
    except (TypeError, ValueError):
        raise UserError(f"{key} must be a number, not {value!r}.") from None
    if not low <= number <= high:
        raise UserError(f"{key} must be between {low} and {high}.")
    return number


def choice_param(params: dict[str, Any], key: str, default: str, choices: tuple[str, ...]) -> str:
    value = params.get(key)
    if value is None or value == "":  # a form's blank choice means the default
        return default
    if value not in choices:
        raise UserError(f"{key} must be one of {', '.join(choices)}, not {value!r}.")
    return str(value)
