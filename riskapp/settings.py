"""riskapp settings: everything that varies between machines comes from the environment.

Nothing set gives the embedded default (SQLite and Celery's filesystem broker under
var/). Production sets DATABASE_URL, REDIS_URL, SECRET_KEY and ALLOWED_HOSTS. A bad
value stops start-up with an ImproperlyConfigured that names the variable.
"""

import os
import secrets
import tempfile
import warnings
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

# django-environ parses the values; the helpers below keep riskapp's loud failures (a bad value names the
# variable and says what is expected) and read an empty variable as unset. No .env file is read: the
# process environment is the only source (docker compose's env_file or the shell loads a file when wanted).
env = environ.Env()

BOOLEAN_WORDS = ("1", "true", "yes", "on", "0", "false", "no", "off")


def is_set(name: str) -> bool:
    return env.str(name, default="") != ""


def env_secret(name: str) -> str:
    """A secret exactly as written: django-environ would read a value starting with $ as another variable's name."""
    return os.environ.get(name, "")


def env_bool(name: str, default: bool) -> bool:
    """django-environ reads any word outside its true words as False; riskapp refuses a word it does not know."""
    if not is_set(name):
        return default
    if env.str(name).lower() not in BOOLEAN_WORDS:
        raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no), not {env.str(name)!r}.")
    return env.bool(name)


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    if not is_set(name):
        return default
    try:
        number = env.int(name)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {env.str(name)!r}.") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}.")
    return number


def env_list(name: str, default: tuple[str, ...] = ()) -> list[str]:
    """A comma-separated list; spaces around items and empty items are dropped (ALLOWED_HOSTS=a.example, b.example)."""
    return [item.strip() for item in env.list(name, default=list(default)) if item.strip()]


def env_rate(name: str, default: str) -> str:
    """A throttle rate such as 30/hour: a count, a slash, and second, minute, hour or day."""
    value = env.str(name, default=default).strip()
    count, _, period = value.partition("/")
    if not (count.isascii() and count.isdigit()) or int(count) < 1 or period not in ("second", "minute", "hour", "day"):
        raise ImproperlyConfigured(
            f"{name} must be a rate like 30/hour (per second, minute, hour or day), not {value!r}."
        )
    return value


DEBUG = env_bool("DEBUG", False)

DATA_DIR = Path(env.str("RISKAPP_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = env_secret("SECRET_KEY")
    if key:
        if not DEBUG and len(key) < 50:
            raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters long in production.")
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY to a long random string "
            '(python -c "import secrets; print(secrets.token_urlsafe(64))"), or DEBUG=1 for development.'
        )
    # Development only: a random key kept under the data directory, so sign-ins survive restarts.
    path = DATA_DIR / "dev-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ("127.0.0.1", "localhost") if DEBUG else ())
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the host names riskapp is served on (comma-separated).")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served locally (never a CDN)
    "csp",  # django-csp: its system checks catch a policy in an outdated format
    "riskapp.audit",
    "riskapp.assessments",
    "riskapp.projects",
    "riskapp.jobs",
    "riskapp.artifacts",
    "riskapp.dashboards",
    "riskapp.evaluations",
    "riskapp.gates",
    "riskapp.accounts",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",  # CONTENT_SECURITY_POLICY on every response that has none of its own
    "django_htmx.middleware.HtmxMiddleware",  # request.htmx: whether htmx sent the request
    # Last: it turns away sign-in attempts from a username and address that failed too often.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "riskapp.urls"
WSGI_APPLICATION = "riskapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


SQLITE_OPTIONS = {
    # The worker and the web server write to the same file: wait for locks instead of failing.
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
}


def _database() -> dict:
    if not is_set("DATABASE_URL"):
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "riskapp.sqlite3",
            "OPTIONS": SQLITE_OPTIONS,
            "TEST": {"NAME": DATA_DIR / "test-riskapp.sqlite3"},
        }
    try:
        # django-environ warns with the whole parsed URL, password included, before riskapp's own error below.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = env.db_url("DATABASE_URL")
    except ValueError as error:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {error}") from None
    if config.get("ENGINE") == "django.db.backends.sqlite3":
        # A SQLite file named explicitly (single-machine setups, worker test subprocesses).
        return {**config, "CONN_MAX_AGE": 0, "OPTIONS": SQLITE_OPTIONS}
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            "DATABASE_URL must be a PostgreSQL URL (postgres://user@host:port/name) or a SQLite file (sqlite:////path)."
        )
    # Connections are kept a minute and checked before reuse; a socket folder may be written percent-encoded as
    # the host (postgres://user@%2Fvar%2Frun%2Fpostgresql/name).
    return {**config, "HOST": unquote(config["HOST"]), "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out username and address
    "django.contrib.auth.backends.ModelBackend",
]
# Sign-in rate limiting (the sign-in page and Django admin): after RISKAPP_SIGNIN_FAILURE_LIMIT failed
# attempts for one username from one address, that pair is refused (429) for RISKAPP_SIGNIN_COOLOFF_MINUTES.
# Counting the pair, not the username alone, keeps an attacker from locking a user out everywhere.
AXES_FAILURE_LIMIT = env_int("RISKAPP_SIGNIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("RISKAPP_SIGNIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "riskapp.accounts.signin.lockout_response"
AXES_CLIENT_IP_CALLABLE = "riskapp.accounts.signin.client_address"
# Proxies in front of riskapp that append to X-Forwarded-For (0: use the connection's address).
TRUSTED_PROXY_COUNT = env_int("RISKAPP_TRUSTED_PROXY_COUNT", 0)
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "riskapp.dashboards.finders.PlotlyFinder",  # vendor/plotly.min.js from the pinned plotly package
]
STATICFILES_DIRS = [BASE_DIR / "static"]
# Collected into the code folder (the image), not the data volume: a rebuild must not serve stale files.
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)

# Uploads and job outputs go through the storage API, rooted outside any web root and never
# served by URL: downloads pass through permission-checked views. An S3-compatible backend
# can replace "default" when workers run on other hosts.
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DATA_DIR / "files", "base_url": None},
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}


# Every request to the bucket is tried this many times in all (botocore's "standard" retries: connection errors,
# timeouts, throttling and 5xx answers, with exponential backoff and jitter) before the error reaches riskapp.
S3_MAX_ATTEMPTS = 5


def _s3_storage() -> dict:
    """RISKAPP_STORAGE=s3: an S3-compatible bucket (AWS S3, MinIO, Ceph) holds uploads and job files."""
    from botocore.config import Config

    bucket = env.str("RISKAPP_S3_BUCKET", default="")
    if not bucket:
        raise ImproperlyConfigured("RISKAPP_STORAGE=s3 needs RISKAPP_S3_BUCKET, the name of an existing bucket.")
    endpoint = env.str("AWS_S3_ENDPOINT_URL", default="")
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"AWS_S3_ENDPOINT_URL must start with http:// or https://, not {endpoint!r}.")
    key, secret = env.str("AWS_ACCESS_KEY_ID", default=""), env_secret("AWS_SECRET_ACCESS_KEY")
    if bool(key) != bool(secret):
        raise ImproperlyConfigured(
            "Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither (boto3 then finds credentials "
            "itself, e.g. from the machine's instance role)."
        )
    return {
        "BACKEND": "riskapp.storage.HashedS3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "access_key": key or None,
            "secret_key": secret or None,
            "location": env.str("RISKAPP_S3_PREFIX", default="").strip("/"),
            # Objects stay private: downloads pass through riskapp's permission-checked views, never a bucket URL.
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
            # Reading a stored file spools to disk above 64 MiB, not into memory (models are large).
            "max_memory_size": 64 * 1024**2,
            "client_config": Config(retries={"max_attempts": S3_MAX_ATTEMPTS, "mode": "standard"}),
        },
    }


# RISKAPP_STORAGE: "local" (the files folder under RISKAPP_DATA_DIR, which every worker must then see)
# or "s3" (a bucket: workers on other hosts download their job's inputs and upload its outputs).
STORAGE_KIND = env.str("RISKAPP_STORAGE", default="local")
if STORAGE_KIND == "s3":
    STORAGES["default"] = _s3_storage()
elif STORAGE_KIND != "local":
    raise ImproperlyConfigured(f"RISKAPP_STORAGE must be local or s3, not {STORAGE_KIND!r}.")

# Uploads: small in-memory threshold so every real file streams to disk.
UPLOAD_MAX_BYTES = env_int("RISKAPP_UPLOAD_MAX_BYTES", 2 * 1024**3, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "upload-tmp")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)

# --- Jobs ---------------------------------------------------------------------------------
JOB_TIME_LIMIT = env_int("RISKAPP_JOB_TIME_LIMIT", 3600, minimum=5)
JOB_MAX_ATTEMPTS = env_int("RISKAPP_JOB_MAX_ATTEMPTS", 3, minimum=1)
# A running job whose heartbeat is older than this is presumed lost by the reconciler.
JOB_HEARTBEAT_TIMEOUT = env_int("RISKAPP_JOB_HEARTBEAT_TIMEOUT", 120, minimum=5)
# A queued job not claimed after this long is enqueued again (its message may be lost).
JOB_REQUEUE_AFTER = env_int("RISKAPP_JOB_REQUEUE_AFTER", 600, minimum=5)
# After a cancel request, how long the engine has to stop on its own before it is killed.
JOB_CANCEL_GRACE = env_int("RISKAPP_JOB_CANCEL_GRACE", 10, minimum=1)
# Private working folders of sandboxed tasks: local to each worker host, never the shared data dir.
JOB_SANDBOX_DIR = Path(env.str("RISKAPP_SANDBOX_DIR", default=str(Path(tempfile.gettempdir()) / "riskapp-sandbox")))
# Namespaces for the sandbox with bubblewrap: "auto" uses them where bwrap works, "on" fails
# jobs where it does not, "off" never uses them (resource limits and safe loaders remain).
JOB_SANDBOX_ISOLATION = env.str("RISKAPP_SANDBOX_ISOLATION", default="auto")
if JOB_SANDBOX_ISOLATION not in ("auto", "on", "off"):
    raise ImproperlyConfigured(f"RISKAPP_SANDBOX_ISOLATION must be auto, on or off, not {JOB_SANDBOX_ISOLATION!r}.")
JOB_SANDBOX_MAX_FILE_BYTES = env_int("RISKAPP_SANDBOX_MAX_FILE_BYTES", 4 * 1024**3, minimum=1024**2)
# Optional address-space cap in MiB for the sandbox (0 = none; CUDA reserves large virtual ranges).
JOB_SANDBOX_MEMORY_MB = env_int("RISKAPP_SANDBOX_MEMORY_MB", 0)
# A spare sandbox per worker process, started ahead of the next job and already past the imports
# below (torch, the engine, timm with torchvision): seconds off every job's start. Each job still
# runs in a process of its own, which sees only copies of its inputs.
JOB_SANDBOX_WARM = env_bool("RISKAPP_SANDBOX_WARM", True)
JOB_SANDBOX_PRELOAD = env_list("RISKAPP_SANDBOX_PRELOAD", ("attacks.tasks", "timm"))


def env_gigabytes(name: str) -> list[float]:
    """A comma-separated list of positive sizes in GB, e.g. 16,80 or 0.5."""
    sizes = []
    for item in env_list(name):
        try:
            size = float(item)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must list sizes in GB (e.g. 16,80), not {item!r}.") from None
        if not 0 < size < float("inf"):
            raise ImproperlyConfigured(f"{name} must list positive sizes in GB, not {item!r}.")
        sizes.append(size)
    return sizes


# Routing by need (see riskapp.jobs.routing): with memory tiers, a job goes to the queue of the smallest tier
# that holds its inputs (gpu-16g, cpu-80g ...); a worker takes the tiers up to RISKAPP_WORKER_MEMORY_GB.
JOB_MEMORY_TIERS_GB = sorted(set(env_gigabytes("RISKAPP_MEMORY_TIERS_GB")))
for _tier in JOB_MEMORY_TIERS_GB:
    if len(f"{_tier:g}") > 3:  # it names queues (interactive-141g) in a 16-character column
        raise ImproperlyConfigured(
            f"RISKAPP_MEMORY_TIERS_GB: write each tier in at most three characters (0.5, 16, 80, 141), not {_tier:g}."
        )
_worker_memory = env_gigabytes("RISKAPP_WORKER_MEMORY_GB")
if len(_worker_memory) > 1:
    raise ImproperlyConfigured("RISKAPP_WORKER_MEMORY_GB must be one size in GB (this worker's GPU or RAM memory).")
WORKER_MEMORY_GB = _worker_memory[0] if _worker_memory else None

# --- Celery -------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://.")

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Must exceed the longest job, or a running job is delivered a second time.
        "visibility_timeout": JOB_TIME_LIMIT + 600,
        # kombu restores unacked messages of dead workers only every interval x throttle
        # seconds; keep both small so a lost worker's job comes back within about a minute.
        "unacked_restore_interval": env_int("RISKAPP_RESTORE_INTERVAL", 10, minimum=1),
        "unacked_restore_throttle": 1,
    }
else:
    broker_dir = DATA_DIR / "broker"
    for sub in ("queue", "processed", "control"):
        (broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # One folder in and out: the web process and the worker share the queue on disk.
        "data_folder_in": str(broker_dir / "queue"),
        "data_folder_out": str(broker_dir / "queue"),
        "processed_folder": str(broker_dir / "processed"),
        "control_folder": str(broker_dir / "control"),
        "store_processed": False,
    }

# Acknowledge after the task returns, so a message whose worker dies is delivered again.
CELERY_TASK_ACKS_LATE = True
# Without this, a task whose pool child is SIGKILLed is acknowledged anyway and lost.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message at a time per process: a long GPU job must not hold others hostage.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# JSON only: a message body is never unpickled.
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Results live in the Job row, not in a result backend.
CELERY_TASK_IGNORE_RESULT = True
# Soft and hard limits are a backstop behind the sandbox's own wall-clock kill.
CELERY_TASK_SOFT_TIME_LIMIT = JOB_TIME_LIMIT + 120
CELERY_TASK_TIME_LIMIT = JOB_TIME_LIMIT + 180
# If the broker connection drops, stop long tasks so their messages are redelivered cleanly.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Keep retrying the broker at start-up instead of crashing the worker.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Jobs pick their queue by kind: intake and validation on `interactive` (a worker of its own, so a user's
# upload never waits behind long attacks), attacks on cpu or gpu. The reconciler is short work too.
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_ROUTES = {"riskapp.jobs.tasks.reconcile_jobs": {"queue": "interactive"}}
# Separate processes per task so a crashed job cannot poison the next one's state.
CELERY_WORKER_MAX_TASKS_PER_CHILD = 50
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "reconcile-jobs": {
        "task": "riskapp.jobs.tasks.reconcile_jobs",
        "schedule": env_int("RISKAPP_RECONCILE_EVERY", 60, minimum=5),
    },
}

# --- REST API -----------------------------------------------------------------------------
API_TOKEN_TTL_DAYS = env_int("RISKAPP_API_TOKEN_TTL_DAYS", 90, minimum=1)
REST_FRAMEWORK = {
    # Tokens for scripts and CI; the browser keeps its session, with CSRF on unsafe methods.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "riskapp.accounts.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser, refusing bodies nested deeper than any request needs (else a RecursionError, a 500).
    "DEFAULT_PARSER_CLASSES": ["riskapp.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "riskapp.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "riskapp.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "uploads": env_rate("RISKAPP_API_UPLOAD_RATE", "60/hour"),
        "job_create": env_rate("RISKAPP_API_JOB_RATE", "300/hour"),
    },
}
# knox's own token model (named here because migrations that point at a swappable model read the setting).
KNOX_TOKEN_MODEL = "knox.AuthToken"  # noqa: S105 - a model name, not a secret
REST_KNOX = {
    # Only a SHA-512 digest of each token is stored; the token itself is shown once, when it is created.
    "TOKEN_TTL": timedelta(days=API_TOKEN_TTL_DAYS),
    "AUTO_REFRESH": False,
    "AUTH_HEADER_PREFIX": "Token",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "riskapp API",
    "DESCRIPTION": "Projects, assessments, risks, models and datasets, jobs and reports of riskapp.",
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `status` or a `role`: each choice set gets its own name.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "riskapp.jobs.models.JobStatus",
        "IntakeStatusEnum": "riskapp.artifacts.models.IntakeStatus",
        "AssessmentStatusEnum": "riskapp.assessments.models.AssessmentStatus",
        "ProjectRoleEnum": "riskapp.projects.roles.Role",
        "ModelRoleEnum": "riskapp.artifacts.models.ModelRole",
        "GateKindEnum": "riskapp.gates.models.GateKind",
    },
}
# Throttle counts live in the cache: Redis when it is configured, so every web process counts together.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "riskapp-cache",
        }
    }

# --- Security -----------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True  # no script reads it: htmx and Swagger UI take the token from the page.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Scripts only from our own static files (no inline script, no eval: plotly.js, htmx and Swagger UI
# run without it); inline styles are allowed because plotly.js and htmx inject their own.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Behind a TLS-terminating proxy (compose, Kubernetes ingress) trust its scheme header.
    if env_bool("SECURE_PROXY_SSL_HEADER", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Sign-in rate limiting logs failures and lock-outs as warnings; its routine cleanup is not news.
    "loggers": {"axes": {"level": "WARNING"}},
}
