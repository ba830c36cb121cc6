"""The deployment files say what DESIGN.md promises: one image, the right queues, no secrets.

Plain file checks (no Docker, no database, no Django): they read docker-compose.yml,
Dockerfile and .dockerignore from the repository root.
"""

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

APP_SERVICES = ("migrate", "web", "worker-gpu", "worker-cpu", "worker-interactive", "beat")
LONG_RUNNING_APP_SERVICES = ("web", "worker-gpu", "worker-cpu", "worker-interactive", "beat")
ALL_SERVICES = ("postgres", "redis", *APP_SERVICES)
DATA_DIR = "/data"
DATA_VOLUME = "riskapp-data"
# A compose variable that must be set, e.g. ${SECRET_KEY:?set SECRET_KEY}.
REQUIRED_VARIABLE = re.compile(r"^\$\{(?P<name>[A-Z_][A-Z0-9_]*):?\?[^}]*\}$")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|PRIVATE_KEY", re.IGNORECASE)


# --- helpers ----------------------------------------------------------------------------


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def argv(service: dict) -> list[str]:
    command = service.get("command")
    assert command, "service has no command"
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def option(args: list[str], *names: str) -> str | None:
    """The value of the first of `names` in args, as `--name value` or `--name=value`."""
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def volume_mounts(service: dict) -> dict[str, str]:
    """Container path -> source, for both short ("src:dst[:mode]") and long volume syntax."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        mounts[target] = source
    return mounts


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuations joined."""
    logical, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    instructions = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def instructions_named(keyword: str) -> list[str]:
    return [rest for name, rest in dockerfile_instructions() if name == keyword]


# --- services and image -----------------------------------------------------------------


def test_compose_defines_database_broker_web_workers_beat_and_migrate(services):
    assert set(ALL_SERVICES) <= set(services)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_app_service_runs_the_one_riskapp_image_built_from_this_repo(services, name):
    service = services[name]
    assert service["image"] == services["web"]["image"] == "riskapp:latest"
    build = service["build"]
    context = build if isinstance(build, str) else build["context"]
    assert context in (".", "./")
    assert build == services["web"]["build"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_differ_only_in_command_and_service_specific_keys(services, name):
    specific = {"command", "depends_on", "deploy", "ports", "restart"}

    def shared(service):
        return {key: value for key, value in service.items() if key not in specific}

    assert shared(services[name]) == shared(services["web"])


def test_postgres_and_redis_use_their_official_images(services):
    assert services["postgres"]["image"].split(":")[0] == "postgres"
    assert services["redis"]["image"].split(":")[0] == "redis"


# --- commands ---------------------------------------------------------------------------


def test_migrate_applies_migrations_once_without_prompting(services):
    migrate = services["migrate"]
    assert argv(migrate)[:3] == ["python", "manage.py", "migrate"]
    assert "--noinput" in argv(migrate)
    # A one-shot job: restarting it would keep dependants waiting for completion forever.
    assert str(migrate.get("restart", "no")) == "no"


def test_web_serves_the_wsgi_app_with_gunicorn_on_port_8000(services):
    web = services["web"]
    args = argv(web)
    assert args[0] == "gunicorn"
    assert "riskapp.wsgi:application" in args
    assert option(args, "--bind", "-b") == "0.0.0.0:8000"
    assert any(str(port).endswith("8000:8000") for port in web.get("ports", []))


def test_gpu_worker_consumes_only_the_gpu_queue_one_job_at_a_time(services):
    args = argv(services["worker-gpu"])
    assert args[:4] == ["celery", "-A", "riskapp", "worker"]
    assert option(args, "-Q", "--queues") == "gpu"
    assert option(args, "--concurrency", "-c") == "1"
    assert option(args, "--prefetch-multiplier") == "1"
    assert option(args, "-n", "--hostname").startswith("gpu@")


def test_gpu_worker_reserves_one_nvidia_gpu(services):
    devices = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert len(devices) == 1
    device = devices[0]
    assert device["driver"] == "nvidia"
    assert device["count"] == 1
    assert "gpu" in device["capabilities"]


def test_cpu_worker_consumes_only_the_cpu_queue_and_reserves_no_gpu(services):
    worker = services["worker-cpu"]
    args = argv(worker)
    assert args[:4] == ["celery", "-A", "riskapp", "worker"]
    assert option(args, "-Q", "--queues") == "cpu"
    assert option(args, "-n", "--hostname").startswith("cpu@")
    assert "deploy" not in worker


def test_interactive_worker_consumes_only_the_interactive_queue(services):
    args = argv(services["worker-interactive"])
    assert args[:4] == ["celery", "-A", "riskapp", "worker"]
    assert option(args, "-Q", "--queues") == "interactive"
    assert option(args, "-n", "--hostname").startswith("interactive@")


def test_every_queue_has_a_worker_and_no_long_work_shares_one_with_the_interactive_queue(services):
    consumed = {}
    for name, service in services.items():
        if "command" in service and argv(service)[:4] == ["celery", "-A", "riskapp", "worker"]:
            for queue in option(argv(service), "-Q", "--queues").split(","):
                consumed.setdefault(queue, []).append(name)
    assert set(consumed) == {"interactive", "cpu", "gpu"}
    assert consumed["interactive"] == ["worker-interactive"]


def test_only_the_gpu_worker_reserves_a_gpu(services):
    with_gpu = [name for name, service in services.items() if "deploy" in service]
    assert with_gpu == ["worker-gpu"]


def test_beat_runs_the_scheduler_with_its_schedule_on_the_data_volume(services):
    args = argv(services["beat"])
    assert args[:4] == ["celery", "-A", "riskapp", "beat"]
    schedule = option(args, "--schedule", "-s")
    assert schedule is not None and schedule.startswith(DATA_DIR + "/")


def test_exactly_one_service_runs_celery_beat(services):
    beats = [name for name, service in services.items() if "command" in service and "beat" in argv(service)[:4]]
    assert beats == ["beat"]


# --- redis and postgres -----------------------------------------------------------------


def test_redis_keeps_queued_messages_with_append_only_file_and_no_eviction(services):
    args = argv(services["redis"])
    assert args[0] == "redis-server"
    assert option(args, "--appendonly") == "yes"
    assert option(args, "--maxmemory-policy") == "noeviction"


def test_postgres_and_redis_report_health_and_keep_data_in_named_volumes(compose, services):
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "ping" in " ".join(services["redis"]["healthcheck"]["test"])
    named = set(compose["volumes"])
    assert volume_mounts(services["postgres"]).get("/var/lib/postgresql/data") in named
    assert volume_mounts(services["redis"]).get("/data") in named


def test_postgres_password_comes_from_the_environment(services):
    password = environment(services["postgres"])["POSTGRES_PASSWORD"]
    assert REQUIRED_VARIABLE.match(password), password


# --- environment ------------------------------------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_app_service_gets_database_broker_secret_and_data_dir(services, name):
    env = environment(services[name])
    for key in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "RISKAPP_DATA_DIR"):
        assert env.get(key), f"{name} lacks {key}"
    assert env["DEBUG"] == "0"
    assert env["RISKAPP_DATA_DIR"] == DATA_DIR


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_app_service_mounts_the_shared_data_volume_at_the_data_dir(compose, services, name):
    data_dir = environment(services[name])["RISKAPP_DATA_DIR"]
    assert volume_mounts(services[name]).get(data_dir) == DATA_VOLUME
    assert DATA_VOLUME in compose["volumes"]


def test_app_services_share_one_environment(services):
    environments = [environment(services[name]) for name in APP_SERVICES]
    assert all(env == environments[0] for env in environments)


def test_app_services_reach_postgres_and_redis_by_service_name(services):
    env = environment(services["web"])
    assert re.match(r"^postgres(ql)?://[^@/]+@postgres(:5432)?/", env["DATABASE_URL"])
    assert re.match(r"^redis://redis(:6379)?/\d+$", env["REDIS_URL"])


def test_secret_key_must_be_supplied_by_the_operator_not_written_in_the_file(services):
    secret = environment(services["web"])["SECRET_KEY"]
    match = REQUIRED_VARIABLE.match(secret)
    assert match, f"SECRET_KEY is not a required ${{VAR:?...}} reference: {secret!r}"
    assert match["name"] == "SECRET_KEY"


def test_database_password_in_the_url_is_a_variable_not_a_literal(services):
    url = environment(services["web"])["DATABASE_URL"]
    userinfo = url.split("://", 1)[1].split("@", 1)[0]
    _, _, password = userinfo.partition(":")
    assert REQUIRED_VARIABLE.match(password), f"DATABASE_URL carries a literal password: {password!r}"


def test_no_service_sets_a_secret_looking_variable_to_a_literal(services):
    for name, service in services.items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert value.startswith("${"), f"{name}.{key} is a literal value"


# --- start-up order ---------------------------------------------------------------------


def test_migrate_waits_for_a_healthy_database(services):
    assert depends_on(services["migrate"]).get("postgres") == "service_healthy"


@pytest.mark.parametrize("name", LONG_RUNNING_APP_SERVICES)
def test_long_running_services_wait_for_healthy_stores_and_finished_migrations(services, name):
    deps = depends_on(services[name])
    assert deps.get("postgres") == "service_healthy"
    assert deps.get("redis") == "service_healthy"
    assert deps.get("migrate") == "service_completed_successfully"


# --- object storage ---------------------------------------------------------------------


def test_app_services_store_files_in_the_s3_service_bucket_with_credentials_from_the_operator(services):
    env = environment(services["web"])
    assert env["RISKAPP_STORAGE"] == "${RISKAPP_STORAGE:-s3}" and env["RISKAPP_S3_BUCKET"] == "riskapp"
    assert env["AWS_S3_ENDPOINT_URL"] == "http://s3:9000"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert REQUIRED_VARIABLE.match(env[key]), f"{key} is not a required ${{VAR:?...}} reference"
    server = environment(services["s3"])
    assert (server["MINIO_ROOT_USER"], server["MINIO_ROOT_PASSWORD"]) == (
        env["AWS_ACCESS_KEY_ID"],
        env["AWS_SECRET_ACCESS_KEY"],
    )


def test_the_s3_service_keeps_its_objects_in_a_named_volume_and_reports_health(compose, services):
    assert volume_mounts(services["s3"]).get("/data") in set(compose["volumes"])
    assert services["s3"]["healthcheck"]["test"]
    assert depends_on(services["s3-bucket"]) == {"s3": "service_healthy"}
    assert "mc mb --ignore-existing store/riskapp" in " ".join(argv(services["s3-bucket"]))


@pytest.mark.parametrize("name", LONG_RUNNING_APP_SERVICES)
def test_long_running_services_wait_for_the_bucket(services, name):
    assert depends_on(services[name]).get("s3-bucket") == "service_completed_successfully"


# --- Dockerfile -------------------------------------------------------------------------


def test_image_builds_on_python_311_slim_bookworm():
    assert instructions_named("FROM")[0].split()[0] == "python:3.11-slim-bookworm"


def test_image_installs_the_pinned_requirements():
    installs = [run for run in instructions_named("RUN") if "pip install" in run]
    assert any(re.search(r"-r\s+requirements\.txt\b", run) for run in installs)
    assert any("requirements.txt" in copy for copy in instructions_named("COPY"))


def test_image_installs_bubblewrap_for_the_job_sandbox():
    assert any("apt-get install" in run and "bubblewrap" in run for run in instructions_named("RUN"))


def test_image_runs_as_the_non_root_riskapp_user():
    users = instructions_named("USER")
    assert users, "the Dockerfile never switches away from root"
    final_user = users[-1].split(":")[0]
    assert final_user not in ("root", "0")
    useradd = next(run for run in instructions_named("RUN") if "useradd" in run)
    assert re.search(r"\briskapp\s*$", useradd), "the image creates no riskapp user"
    uid = option(shlex.split(useradd), "--uid", "-u")
    assert final_user in ("riskapp", uid)


def test_image_environment_is_unbuffered_without_bytecode_and_uses_the_data_volume():
    env_text = " ".join(instructions_named("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env_text
    assert "PYTHONUNBUFFERED=1" in env_text
    assert f"RISKAPP_DATA_DIR={DATA_DIR}" in env_text
    assert any(DATA_DIR in volume for volume in instructions_named("VOLUME"))
    assert any(expose.split()[0] == "8000" for expose in instructions_named("EXPOSE"))


def test_image_collects_static_files_at_build_time():
    assert any("manage.py collectstatic --noinput" in run for run in instructions_named("RUN"))


def test_image_bakes_in_no_secret():
    for keyword in ("ENV", "ARG", "LABEL"):
        for rest in instructions_named(keyword):
            assert not SECRET_NAME.search(rest), f"{keyword} {rest!r} names a secret"
    for keyword in ("COPY", "ADD"):
        for rest in instructions_named(keyword):
            assert ".env" not in rest.split(), f"{keyword} {rest!r} copies an env file"


def test_the_only_secret_key_is_a_throwaway_passed_inline_to_collectstatic():
    runs_with_key = [run for run in instructions_named("RUN") if "SECRET_KEY" in run]
    assert len(runs_with_key) == 1
    run = runs_with_key[0]
    # Inline assignment scoped to this one command: not exported, not persisted anywhere.
    match = re.match(r"^(?:[A-Z_]+=\S+\s+)*?SECRET_KEY=(?P<key>\S+)\s", run)
    assert match, "SECRET_KEY must be an inline VAR=value prefix of the command"
    assert "export" not in run
    assert "collectstatic" in run
    assert re.search(r"build|throwaway|not-a-secret|insecure", match["key"])
    # The throwaway key is nowhere else: not in compose, not in other instructions.
    assert match["key"] not in COMPOSE_FILE.read_text()


def test_image_default_command_serves_the_wsgi_app_with_gunicorn():
    cmd = instructions_named("CMD")[-1]
    assert "gunicorn" in cmd and "riskapp.wsgi:application" in cmd


def test_docker_build_context_leaves_out_local_state_history_and_env_files():
    patterns = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for expected in (".venv", "var", ".git", "docs/screenshots", ".env"):
        assert expected in patterns
    assert any("__pycache__" in pattern for pattern in patterns)
