"""The engine tasks a sandboxed run can perform, by name."""

from collections.abc import Callable
from typing import Any

from attacks import environment, intake, selftest, speed, validate
from attacks.context import RunContext

EngineTask = Callable[[RunContext, dict[str, Any]], dict[str, Any]]

TASKS: dict[str, EngineTask] = {
    "environment": environment.run,
    "speed": speed.run,
    "sandbox_selftest": selftest.run,
    "intake": intake.run,
    "validate": validate.run,
}
