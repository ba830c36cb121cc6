"""The engine tasks a sandboxed run can perform, by name."""

from collections.abc import Callable
from typing import Any

from attacks import environment, intake, selftest, speed, validate
from attacks.backdoor.tasks import BACKDOOR_TASKS
from attacks.context import RunContext
from attacks.evasion import tasks as evasion
from attacks.hardening.tasks import HARDENING_TASKS
from attacks.privacy.tasks import PRIVACY_TASKS

EngineTask = Callable[[RunContext, dict[str, Any]], dict[str, Any]]

TASKS: dict[str, EngineTask] = {
    "environment": environment.run,
    "speed": speed.run,
    "sandbox_selftest": selftest.run,
    "intake": intake.run,
    "validate": validate.run,
    "evasion": evasion.run_evasion,
    "robustness_curve": evasion.run_curve,
    "transfer": evasion.run_transfer,
    "backdoor_scan": BACKDOOR_TASKS["backdoor_scan"],
    "strip": BACKDOOR_TASKS["strip"],
    "data_scan": BACKDOOR_TASKS["data_scan"],
    "lineage": BACKDOOR_TASKS["lineage"],
    "membership_inference": PRIVACY_TASKS["membership_inference"],
    "extraction": PRIVACY_TASKS["extraction"],
    "hardening": HARDENING_TASKS["hardening"],
}
