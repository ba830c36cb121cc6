"""The privacy engine tasks, by name (merged into attacks.tasks.TASKS)."""

from collections.abc import Callable
from typing import Any

from attacks.context import RunContext
from attacks.privacy import extraction, membership

PRIVACY_TASKS: dict[str, Callable[[RunContext, dict[str, Any]], dict[str, Any]]] = {
    "membership_inference": membership.run,
    "extraction": extraction.run,
}
