"""riskapp-ci: a command-line client for riskapp's quality gates. Standard library only (no Django)."""

__version__ = "0.1.0"

# Exit codes: what a CI step reads.
EXIT_PASSED = 0
EXIT_GATE_FAILED = 1
EXIT_JOB_FAILED = 2  # a job failed, was cancelled or timed out, the model was rejected, or we timed out waiting
EXIT_USAGE = 3  # bad arguments, no or bad token, no permission, server unreachable, a refused request
