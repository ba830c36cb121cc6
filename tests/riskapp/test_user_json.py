"""The one check of JSON a user sends that riskapp stores (riskapp/user_json.py); the requests that use it are
in tests/bad_input/."""

import pytest
from django.core.exceptions import ValidationError

from riskapp.user_json import MAX_BYTES, NumberField, user_json_check, user_json_parse, user_json_problem


def nested(levels: int):
    value: object = "leaf"
    for _ in range(levels):
        value = {"a": [value]} if levels % 2 else [value]
    return value


def test_json_within_the_limits_is_returned_as_it_is():
    value = {"mean": [0.485, 0.456, 0.406], "name": "Dana", "flags": [True, None, 3], "deep": nested(30)}
    assert user_json_check(value) is value
    assert user_json_parse('{"scale": 255, "crop_pct": 0.875}') == {"scale": 255, "crop_pct": 0.875}


def test_a_value_nested_far_past_the_recursion_limit_is_refused_without_recursing():
    assert user_json_problem(nested(100_000)) == "nested more than 32 levels deep; give a flatter value."
    with pytest.raises(ValidationError, match="Nested more than 32 levels deep"):
        user_json_parse("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"owner": "Dana\x00"}, "a NUL character (\\u0000) cannot be stored; remove it."),
        ({"bad\x00key": 1}, "a NUL character (\\u0000) cannot be stored; remove it."),
        ([0.5, float("nan")], "NaN and infinite numbers (such as 1e999) are not JSON; give finite numbers."),
        ({"scale": float("-inf")}, "NaN and infinite numbers (such as 1e999) are not JSON; give finite numbers."),
        ({"when": object()}, "a value of type object is not JSON."),
    ],
)
def test_what_json_storage_refuses_is_named(value, problem):
    assert user_json_problem(value) == problem


def test_the_message_names_the_field_it_is_about():
    with pytest.raises(ValidationError) as error:
        user_json_check(["x\x00"], what="operation.risk_owner")
    assert error.value.messages == ["operation.risk_owner: a NUL character (\\u0000) cannot be stored; remove it."]


def test_1e999_parses_as_infinity_and_is_refused():
    with pytest.raises(ValidationError, match="NaN and infinite numbers"):
        user_json_parse('{"scale": 1e999}')


def test_a_value_over_the_size_limit_is_refused_with_its_size():
    problem = user_json_problem({"notes": "n" * MAX_BYTES})
    assert problem.endswith(f"bytes as JSON, over the limit of {MAX_BYTES:,}; give a shorter value.")


@pytest.mark.parametrize("value", [True, False])
def test_a_number_field_refuses_true_and_false(value):
    with pytest.raises(ValidationError, match="Give a number, not true or false."):
        NumberField().clean(value)
    assert NumberField().clean(0.5) == 0.5 and NumberField().clean("2") == 2.0
