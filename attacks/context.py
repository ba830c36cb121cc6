"""What an engine task gets to report progress, notice cancellation and write output files."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path


class Cancelled(Exception):
    """Raised at a check point after the job was asked to stop."""


class UserError(Exception):
    """A problem the user can fix (bad parameters, unsupported file); its message is shown as is.

    `details` is plain data that goes back with the failure (e.g. the scan report of a refused file).
    """

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.details = details


class RunContext:
    """Progress callback, cooperative cancel flag and output folder of one run."""

    def __init__(
        self,
        *,
        output_dir: Path,
        on_progress: Callable[[float, str], None] | None = None,
        cancel_event: threading.Event | None = None,
    ) -> None:
        self.output_dir = output_dir
        self._on_progress = on_progress
        self._cancel_event = cancel_event or threading.Event()

    def progress(self, percent: float, message: str = "") -> None:
        if self._on_progress is not None:
            self._on_progress(max(0.0, min(100.0, float(percent))), message)

    def cancelled(self) -> bool:
        return self._cancel_event.is_set()

    def check_cancel(self) -> None:
        """Call between batches: stops the task cleanly when a cancel was requested."""
        if self._cancel_event.is_set():
            raise Cancelled("The job was cancelled.")
