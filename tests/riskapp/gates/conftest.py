from tests.riskapp.api.conftest import api_for, fresh_throttle_counts  # noqa: F401
