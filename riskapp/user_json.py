"""JSON a user sends that riskapp will store: one check shared by every way in (forms, the API, services).

Some JSON is fine for Python but not for storage or parsing: PostgreSQL's jsonb refuses a NUL character
(\\u0000) in any string; JSON has no NaN or Infinity, yet Python's json module reads them (and reads
1e999 as infinity) and writes them back out; a structure nested thousands of levels deep makes the
parser recurse until it fails. Each of these would be a server error at the database or in the parser,
or a value no JSON reader accepts later. Here they become errors the user can act on, before anything
is stored, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

from django import forms
from django.core.exceptions import ValidationError

# No riskapp input needs more: a card's pre-processing is 2 levels deep, a job's parameters 3.
MAX_DEPTH = 32
MAX_BYTES = 64 * 1024

T = TypeVar("T")


def json_depth_over(value: Any, limit: int) -> bool:
    """Whether `value` nests lists and objects more than `limit` levels deep (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def user_json_problem(value: Any, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = MAX_BYTES) -> str | None:
    """Why `value` cannot be stored as JSON (a phrase, lower case); None when it can. `max_bytes` None: any size."""
    if json_depth_over(value, max_depth):
        return f"nested more than {max_depth} levels deep; give a flatter value."
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "a NUL character (\\u0000) cannot be stored; remove it."
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "NaN and infinite numbers (such as 1e999) are not JSON; give finite numbers."
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif item is not None and not isinstance(item, bool | int):
            return f"a value of type {type(item).__name__} is not JSON."
    if max_bytes is not None:
        size = len(json.dumps(value, ensure_ascii=False).encode())  # safe: the depth is bounded
        if size > max_bytes:
            return f"{size:,} bytes as JSON, over the limit of {max_bytes:,}; give a shorter value."
    return None


def _message(problem: str, what: str | None) -> str:
    return f"{what}: {problem}" if what else problem[:1].upper() + problem[1:]


def user_json_check(value: T, *, what: str | None = None, max_bytes: int | None = MAX_BYTES) -> T:
    """`value` unchanged, or a ValidationError saying what is wrong with it (after "`what`: ", if given)."""
    problem = user_json_problem(value, max_bytes=max_bytes)
    if problem:
        raise ValidationError(_message(problem, what), code="invalid")
    return value


def user_json_parse(text: str, *, what: str | None = None) -> Any:
    """The JSON in `text`, checked as user_json_check does; a ValidationError when it is not JSON."""
    try:
        value = json.loads(text)
    except RecursionError:
        problem = f"nested more than {MAX_DEPTH} levels deep; give a flatter value."
        raise ValidationError(_message(problem, what), code="invalid") from None
    except ValueError as error:
        raise ValidationError(f"Not valid JSON: {error}.", code="invalid") from None
    return user_json_check(value, what=what)


class NumberField(forms.FloatField):
    """A FloatField for values that may arrive as JSON: true and false are not numbers (float(True) is 1.0)."""

    def to_python(self, value):
        if isinstance(value, bool):
            raise ValidationError("Give a number, not true or false.", code="invalid")
        return super().to_python(value)
