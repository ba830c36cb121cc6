"""The backdoor engine tasks, by name (merged into attacks.tasks.TASKS)."""

from collections.abc import Callable
from typing import Any

from attacks.backdoor import cleanse, datascan, lineage, strip
from attacks.context import RunContext

BACKDOOR_TASKS: dict[str, Callable[[RunContext, dict[str, Any]], dict[str, Any]]] = {
    "backdoor_scan": cleanse.run,
    "strip": strip.run,
    "data_scan": datascan.run,
    "lineage": lineage.run,
}
