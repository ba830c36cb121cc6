"""Loaded by pytest as a plugin (`-p tests.testenv`), before Django reads its settings."""

import os
from pathlib import Path

# The suite runs with DEBUG on and its own data directory; settings tests start their own processes.
os.environ.setdefault("DEBUG", "1")
# Jobs run in the test process itself: no spare sandbox importing torch behind every test's back
# (tests/riskapp/jobs/test_warm_sandbox.py turns it on where it is the subject).
os.environ.setdefault("RISKAPP_SANDBOX_WARM", "0")
os.environ.setdefault("RISKAPP_DATA_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))
