"""Workers on many machines: a web process and two Celery workers that share nothing but PostgreSQL, Redis and an
S3 bucket (moto's S3 server, started here). Each has a data folder of its own; files travel only through the
bucket. Jobs are routed by need: intake and validation to the small worker, the attack to the big one.

Needs PostgreSQL (a database of its own is created and dropped here) and Redis (an empty database number of
its own) at DATABASE_URL / REDIS_URL's host, or 127.0.0.1. Without them the test skips, unless
RISKAPP_REQUIRE_SERVICES=1 (as in CI), where it fails instead.
"""

import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
import torch

from attacks.architectures import build
from attacks.datasets import digits_split, save_npz
from attacks.loading import save_safetensors
from riskapp.jobs.kinds import get_kind
from tests.processes import free_port, wait_for
from tests.riskapp.jobs.real_services import missing
from tests.riskapp.jobs.s3_server import s3_server  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.services
FINISHED = ("succeeded", "failed", "cancelled", "timed_out")


@pytest.fixture
def postgres_url():
    """A PostgreSQL database of this test's own, dropped at the end."""
    import psycopg

    configured = os.environ.get("DATABASE_URL", "")
    server = configured if configured.startswith("postgres") else "postgres://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(server)
    admin_url = urlunsplit(parts._replace(path="/postgres", query=""))
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError:
        missing(f"PostgreSQL at {parts.hostname}:{parts.port or 5432}")
    name = f"riskapp_s3_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(parts._replace(path=f"/{name}", query=""))
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def redis_url():
    """An empty Redis database number of this test's own, emptied at the end."""
    import redis

    configured = os.environ.get("REDIS_URL", "")
    parts = urlsplit(configured if configured.startswith("redis://") else "redis://127.0.0.1:6379/0")
    claim = f"riskapp-s3-test-{uuid.uuid4().hex}"
    for number in range(15, 0, -1):
        client = redis.Redis(host=parts.hostname, port=parts.port or 6379, db=number, socket_connect_timeout=5)
        try:
            if client.dbsize() == 0 and client.set(claim, 1, nx=True) and client.dbsize() == 1:
                break
        except redis.exceptions.ConnectionError:
            missing(f"Redis at {parts.hostname}:{parts.port or 6379}")
    else:
        pytest.fail("no empty Redis database number to use")
    yield f"redis://{parts.hostname}:{parts.port or 6379}/{number}"
    client.flushdb()


class Machines:
    """Processes that each stand for a machine: own data folder, own sandbox folder, shared services only."""

    def __init__(self, folder: Path, shared_env: dict[str, str]):
        self.folder = folder
        self.shared_env = shared_env
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []

    def data_dir(self, name: str) -> Path:
        return self.folder / name / "data"

    def env(self, name: str, **extra) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("RISKAPP_", "AWS_", "DATABASE_", "REDIS_"))},
            "DEBUG": "1",
            "RISKAPP_DATA_DIR": str(self.data_dir(name)),
            "RISKAPP_SANDBOX_DIR": str(self.folder / name / "sandbox"),
            "RISKAPP_SANDBOX_WARM": "0",
            **self.shared_env,
            **extra,
        }

    def run(self, name: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, *args], cwd=ROOT, env=self.env(name), capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self, name: str, args: list[str], **extra) -> Path:
        log_path = self.folder / f"{name}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                env=self.env(name, **extra),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append((name, proc, log_path))
        return log_path

    def worker(self, name: str, queues: str, memory_gb: str) -> Path:
        args = ["-m", "celery", "-A", "riskapp", "worker", "-P", "prefork", "-c", "1", "-Q", queues, "-n", f"{name}@%h"]
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"]
        return self.start(name, args, RISKAPP_WORKER_MEMORY_GB=memory_gb)

    def stop_all(self):
        for name, proc, log_path in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait(10)
            print(f"--- {name} ---\n{log_path.read_text(errors='replace')[-3000:]}")


SETUP = """
import json
from riskapp.accounts.services import api_token_create
from riskapp.projects.services import project_create
from django.contrib.auth import get_user_model
user = get_user_model().objects.create_user(username="assessor", password="correct horse battery staple")
project = project_create(user=user, name="Traffic signs", risk_appetite="medium")
_token, secret = api_token_create(user=user, name="ci")
print(json.dumps({"project": project.pk, "token": secret}))
"""


def model_and_data() -> tuple[bytes, bytes]:
    torch.manual_seed(0)
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"riskapp-s3-{uuid.uuid4().hex}"
    folder.mkdir()
    save_safetensors(build("cnn-digits", 10).state_dict(), folder / "cnn.safetensors")
    split = digits_split()
    save_npz(folder / "test.npz", split.x_test[:60], split.y_test[:60])
    files = (folder / "cnn.safetensors").read_bytes(), (folder / "test.npz").read_bytes()
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return files


def test_two_workers_sharing_only_postgresql_redis_and_a_bucket_run_intake_validation_and_an_attack(
    tmp_path,
    s3_server,  # noqa: F811
    postgres_url,
    redis_url,
):
    bucket = s3_server.new_bucket()
    small_pool = get_kind("intake").queue  # intake and validation: short jobs a user waits for
    assert get_kind("validation").queue == small_pool and get_kind("robustness_curve").queue == "gpu"
    machines = Machines(
        tmp_path,
        {
            "DATABASE_URL": postgres_url,
            "REDIS_URL": redis_url,
            "RISKAPP_MEMORY_TIERS_GB": "1,64",
            **s3_server.storage_env(bucket),
        },
    )
    try:
        machines.run("web", "manage.py", "migrate", "--noinput")
        setup = json.loads(machines.run("web", "manage.py", "shell", "-c", SETUP).strip().splitlines()[-1])
        port = free_port()
        machines.start("web", ["manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"])
        small_log = machines.worker("small", small_pool, memory_gb="2")
        big_log = machines.worker("big", "gpu", memory_gb="80")
        for log_path in (small_log, big_log):
            wait_for(lambda p=log_path: " ready." in p.read_text(errors="replace"), 120, f"{log_path.stem} to start")
        # Each worker took its pools' tiers up to its memory, no more.
        assert f"{small_pool}-1g" in small_log.read_text() and f"{small_pool}-64g" not in small_log.read_text()
        assert "gpu-1g" in big_log.read_text() and "gpu-64g" in big_log.read_text()

        api = requests.Session()
        api.headers["Authorization"] = f"Token {setup['token']}"
        base = f"http://127.0.0.1:{port}/api/v1/projects/{setup['project']}"
        wait_for(
            lambda: api.get(f"{base}/").status_code == 200, 60, "the web server", ignoring=(requests.RequestException,)
        )
        weights, data = model_and_data()
        model = api.post(
            f"{base}/models/upload/",
            files={"file": ("cnn.safetensors", io.BytesIO(weights))},
            data={"name": "student", "architecture": "cnn-digits", "num_classes": "10", "role": "student"},
        )
        assert model.status_code == 201, model.text
        dataset = api.post(
            f"{base}/datasets/upload/",
            files={"file": ("test.npz", io.BytesIO(data))},
            data={"name": "digits", "purpose": "evaluation"},
        )
        assert dataset.status_code == 201, dataset.text

        def finished(job_id):
            body = api.get(f"{base}/jobs/{job_id}/").json()
            return body if body["status"] in FINISHED else None

        def wait_finished(job_id, what):
            return wait_for(lambda: finished(job_id), 300, what)

        intakes = [wait_finished(body.json()["intake_job_id"], "an intake") for body in (model, dataset)]
        assert [job["status"] for job in intakes] == ["succeeded", "succeeded"], intakes
        assert {job["queue"] for job in intakes} == {f"{small_pool}-1g"}

        ids = {"model_id": model.json()["id"], "dataset_id": dataset.json()["id"]}
        validation = api.post(f"{base}/jobs/create/", json={"kind": "validation", "parameters": ids})
        attack = api.post(
            f"{base}/jobs/create/",
            json={"kind": "robustness_curve", "parameters": {**ids, "eps": [0.1], "sample_limit": 20}},
        )
        assert validation.status_code == 201 and attack.status_code == 201, (validation.text, attack.text)
        done = [wait_finished(body.json()["id"], "a job") for body in (validation, attack)]
        assert [job["status"] for job in done] == ["succeeded", "succeeded"], done
        assert [job["queue"] for job in done] == [f"{small_pool}-1g", "gpu-1g"]
        assert 0 <= api.get(f"{base}/jobs/{done[0]['id']}/result/").json()["result"]["accuracy"] <= 1

        # Uploads and outputs are in the bucket, and only there: no machine's data folder holds a stored file.
        keys = s3_server.keys(bucket)
        stored = [
            api.get(f"{base}/models/{ids['model_id']}/").json(),
            api.get(f"{base}/datasets/{ids['dataset_id']}/").json(),
        ]
        assert any(key.startswith("uploads/") for key in keys) and any(key.startswith("jobs/") for key in keys)
        for name in ("web", "small", "big"):
            assert not (machines.data_dir(name) / "files").exists() or not any(
                (machines.data_dir(name) / "files").rglob("*.*")
            )
        # Each worker downloaded its jobs' inputs to its own private folder, and no other's.
        small_text, big_text = small_log.read_text(), big_log.read_text()
        for job in [*intakes, done[0]]:
            assert f"job {job['id']}: " in small_text and f"job {job['id']}: " not in big_text
        assert f"job {done[1]['id']}: 2 input(s) downloaded to {tmp_path / 'big' / 'sandbox'}" in big_text
        assert f"job {done[0]['id']}: 2 input(s) downloaded to {tmp_path / 'small' / 'sandbox'}" in small_text
        assert stored[0]["status"] == "ready" and stored[1]["status"] == "ready"
        # A user downloads a worker's output as before: the web process reads it from the bucket.
        output = api.get(f"{base}/jobs/{intakes[0]['id']}/").json()["files"][0]
        download = api.get(f"{base}/jobs/{intakes[0]['id']}/files/{output['id']}/")
        assert download.status_code == 200 and len(download.content) == output["size"] > 0
    finally:
        machines.stop_all()
