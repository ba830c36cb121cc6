"""Settings come from the environment and fail loudly, naming the variable, on bad values."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 64


def load_settings(tmp_path, code="print('ok')", **env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS")
    }
    clean.update({"DJANGO_SETTINGS_MODULE": "riskapp.settings", "RISKAPP_DATA_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); from django.conf import settings; {code}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=clean,
    )


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = load_settings(tmp_path, DEBUG="0", ALLOWED_HOSTS="riskapp.example")
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG must be a boolean"),
        ({"DEBUG": "1", "RISKAPP_JOB_TIME_LIMIT": "soon"}, "RISKAPP_JOB_TIME_LIMIT must be an integer"),
        ({"DEBUG": "1", "RISKAPP_JOB_TIME_LIMIT": "1"}, "RISKAPP_JOB_TIME_LIMIT must be at least 5"),
        ({"DEBUG": "1", "RISKAPP_UPLOAD_MAX_BYTES": "-3"}, "RISKAPP_UPLOAD_MAX_BYTES must be at least 1024"),
        ({"DEBUG": "1", "DATABASE_URL": "mysql://db/riskapp"}, "DATABASE_URL must be a PostgreSQL URL"),
        ({"DEBUG": "1", "DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"DEBUG": "1", "REDIS_URL": "http://cache:6379"}, "REDIS_URL must start with redis://"),
        ({"DEBUG": "0", "SECRET_KEY": "short", "ALLOWED_HOSTS": "x"}, "SECRET_KEY must be at least 50 characters"),
        ({"DEBUG": "0", "SECRET_KEY": GOOD_KEY}, "ALLOWED_HOSTS must list the host names"),
        ({"DEBUG": "1", "RISKAPP_SIGNIN_FAILURE_LIMIT": "0"}, "RISKAPP_SIGNIN_FAILURE_LIMIT must be at least 1"),
        ({"DEBUG": "1", "RISKAPP_API_JOB_RATE": "²/hour"}, "RISKAPP_API_JOB_RATE must be a rate like 30/hour"),
        ({"DEBUG": "1", "RISKAPP_SANDBOX_WARM": "sometimes"}, "RISKAPP_SANDBOX_WARM must be a boolean"),
    ],
)
def test_bad_values_raise_improperly_configured_naming_the_variable(tmp_path, env, message):
    result = load_settings(tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_embedded_default_is_sqlite_and_the_filesystem_broker_under_the_data_dir(tmp_path):
    code = (
        "print(settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['NAME'], "
        "settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT_OPTIONS['data_folder_in'])"
    )
    result = load_settings(tmp_path, code, DEBUG="1")
    engine, name, broker, folder = result.stdout.split()
    assert engine == "django.db.backends.sqlite3" and name.startswith(str(tmp_path))
    assert broker == "filesystem://" and folder.startswith(str(tmp_path))


def test_production_services_come_from_database_url_and_redis_url(tmp_path):
    code = (
        "print(settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['HOST'], "
        "settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'])"
    )
    result = load_settings(
        tmp_path,
        code,
        DEBUG="1",
        DATABASE_URL="postgres://riskapp@db:5432/riskapp",
        REDIS_URL="redis://redis:6379/0",
        RISKAPP_JOB_TIME_LIMIT="1800",
    )
    engine, host, broker, visibility = result.stdout.split()
    assert (engine, host, broker) == ("django.db.backends.postgresql", "db", "redis://redis:6379/0")
    assert int(visibility) > 1800  # longer than the longest job, or running jobs are delivered twice


def test_celery_settings_keep_jobs_safe(tmp_path):
    code = (
        "print(settings.CELERY_TASK_ACKS_LATE, settings.CELERY_TASK_REJECT_ON_WORKER_LOST, "
        "settings.CELERY_WORKER_PREFETCH_MULTIPLIER, settings.CELERY_ACCEPT_CONTENT, "
        "settings.CELERY_TASK_TIME_LIMIT > settings.JOB_TIME_LIMIT)"
    )
    result = load_settings(tmp_path, code, DEBUG="1")
    assert result.stdout.split() == ["True", "True", "1", "['json']", "True"]


def test_check_deploy_with_production_variables_reports_no_warnings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": "x8#Kq2!vZp" * 7,
            "ALLOWED_HOSTS": "riskapp.example",
            "RISKAPP_DATA_DIR": str(tmp_path),
            "REDIS_URL": "redis://redis:6379/0",
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_production_sends_hsts_and_secure_cookies_and_redirects_to_https(tmp_path):
    code = (
        "print(settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, settings.SECURE_SSL_REDIRECT,"
        " settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY,"
        " settings.CSRF_COOKIE_HTTPONLY)"
    )
    result = load_settings(tmp_path, code, DEBUG="0", SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="riskapp.example")
    assert result.stdout.split() == ["31536000", "True", "True", "True", "True", "True", "True"], result.stderr


def test_object_storage_retries_transient_errors_with_backoff(tmp_path):
    code = (
        "config = settings.STORAGES['default']['OPTIONS']['client_config']; "
        "print(settings.STORAGES['default']['BACKEND'], config.retries['mode'], config.retries['max_attempts'])"
    )
    result = load_settings(tmp_path, code, DEBUG="1", RISKAPP_STORAGE="s3", RISKAPP_S3_BUCKET="riskapp")
    assert result.stdout.split() == ["riskapp.storage.HashedS3Storage", "standard", "5"], result.stderr


@pytest.mark.parametrize(("word", "expected"), [("on", "True"), ("YES", "True"), ("off", "False"), ("0", "False")])
def test_boolean_words_read_as_before(tmp_path, word, expected):
    result = load_settings(tmp_path, "print(settings.JOB_SANDBOX_WARM)", DEBUG="1", RISKAPP_SANDBOX_WARM=word)
    assert result.stdout.strip() == expected, result.stderr


def test_an_empty_variable_reads_as_unset(tmp_path):
    code = "print(settings.JOB_TIME_LIMIT, settings.JOB_SANDBOX_WARM, settings.DATABASES['default']['ENGINE'])"
    result = load_settings(
        tmp_path, code, DEBUG="1", RISKAPP_JOB_TIME_LIMIT="", RISKAPP_SANDBOX_WARM="", DATABASE_URL=""
    )
    assert result.stdout.split() == ["3600", "True", "django.db.backends.sqlite3"], result.stderr


def test_list_variables_drop_spaces_and_empty_items(tmp_path):
    result = load_settings(
        tmp_path, "print(settings.ALLOWED_HOSTS)", DEBUG="1", ALLOWED_HOSTS=" a.example, ,b.example,"
    )
    assert result.stdout.strip() == "['a.example', 'b.example']", result.stderr


def test_a_secret_key_starting_with_a_dollar_is_taken_as_written(tmp_path):
    key = "$" + GOOD_KEY
    result = load_settings(tmp_path, "print(settings.SECRET_KEY)", DEBUG="0", SECRET_KEY=key, ALLOWED_HOSTS="x")
    assert result.stdout.strip() == key, result.stderr


def test_a_postgres_url_keeps_connections_and_passes_its_query_options(tmp_path):
    code = "import json; print(json.dumps(settings.DATABASES['default'], sort_keys=True))"
    url = "postgresql://riskapp:p%40ss@%2Fvar%2Frun%2Fpostgresql/riskapp?sslmode=require&connect_timeout=10"
    result = load_settings(tmp_path, code, DEBUG="1", DATABASE_URL=url)
    config = json.loads(result.stdout)
    assert (config["HOST"], config["NAME"], config["USER"], config["PASSWORD"]) == (
        "/var/run/postgresql",
        "riskapp",
        "riskapp",
        "p@ss",
    )
    assert config["OPTIONS"] == {"sslmode": "require", "connect_timeout": 10}
    assert (config["CONN_MAX_AGE"], config["CONN_HEALTH_CHECKS"]) == (60, True)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgres://riskapp:hunter2@db:port/riskapp", "DATABASE_URL is not a valid database URL"),
        ("//riskapp:hunter2@db/riskapp", "DATABASE_URL must be a PostgreSQL URL"),
    ],
)
def test_a_bad_database_url_names_the_variable_and_never_shows_its_password(tmp_path, url, message):
    result = load_settings(tmp_path, DEBUG="1", DATABASE_URL=url)
    assert f"ImproperlyConfigured: {message}" in result.stderr
    assert "hunter2" not in result.stderr
