"""A progress tick: how far a running task is. The sandboxed runner sends ticks as JSON lines and riskapp's
launcher reads them back into the same type, so both sides agree on its fields. No Django here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_MESSAGE_CHARS = 200


@dataclass(frozen=True)
class ProgressTick:
    percent: float  # 0-100
    message: str = ""  # what the task is doing, in a few words

    def to_report(self) -> dict[str, Any]:
        """The JSON line the runner writes: the percent to one decimal, the message cut to length."""
        return {"type": "progress", "percent": round(self.percent, 1), "message": self.message[:MAX_MESSAGE_CHARS]}

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> ProgressTick:
        """The tick of a `{"type": "progress", ...}` line; missing fields read as 0 % and no message."""
        return cls(percent=float(report.get("percent", 0)), message=str(report.get("message", "")))
