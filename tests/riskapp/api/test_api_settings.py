"""The API's settings come from the environment and fail loudly, naming the variable, on bad values."""

import pytest

from tests.riskapp.test_settings import load_settings


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RISKAPP_API_UPLOAD_RATE": "lots"}, "RISKAPP_API_UPLOAD_RATE must be a rate like 30/hour"),
        ({"RISKAPP_API_JOB_RATE": "10/fortnight"}, "RISKAPP_API_JOB_RATE must be a rate like 30/hour"),
        ({"RISKAPP_API_JOB_RATE": "0/hour"}, "RISKAPP_API_JOB_RATE must be a rate like 30/hour"),
        ({"RISKAPP_API_TOKEN_TTL_DAYS": "0"}, "RISKAPP_API_TOKEN_TTL_DAYS must be at least 1"),
    ],
)
def test_bad_api_values_raise_improperly_configured_naming_the_variable(tmp_path, env, message):
    result = load_settings(tmp_path, DEBUG="1", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_rates_and_token_lifetime_come_from_the_environment(tmp_path):
    code = (
        "print(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['uploads'], "
        "settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['job_create'], settings.REST_KNOX['TOKEN_TTL'].days)"
    )
    result = load_settings(
        tmp_path,
        code,
        DEBUG="1",
        RISKAPP_API_UPLOAD_RATE="5/minute",
        RISKAPP_API_JOB_RATE="100/day",
        RISKAPP_API_TOKEN_TTL_DAYS="7",
    )
    assert result.stdout.split() == ["5/minute", "100/day", "7"]


def test_throttle_counts_are_shared_through_redis_when_it_is_configured(tmp_path):
    code = "print(settings.CACHES['default']['BACKEND'])"
    result = load_settings(tmp_path, code, DEBUG="1", REDIS_URL="redis://redis:6379/0")
    assert result.stdout.strip() == "django.core.cache.backends.redis.RedisCache"
