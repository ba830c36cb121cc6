"""The hardening engine task, by name (merged into attacks.tasks.TASKS)."""

from collections.abc import Callable
from typing import Any

from attacks.context import RunContext
from attacks.hardening import harden

HARDENING_TASKS: dict[str, Callable[[RunContext, dict[str, Any]], dict[str, Any]]] = {
    "hardening": harden.run,
}
