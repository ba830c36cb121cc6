"""Fixtures for jobs on real services: a Redis of the test's own, real Celery worker and beat processes."""

import os

import pytest

from riskapp.jobs import services
from riskapp.jobs.sandbox import bwrap_available
from tests.riskapp.jobs.real_services import CeleryProcesses, RedisServer


@pytest.fixture
def redis_server(tmp_path):
    """A redis-server (append-only file on) on a free port, stopped at the end."""
    server = RedisServer(tmp_path / "redis")
    server.folder.mkdir()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    return redis_server.url


@pytest.fixture
def celery_processes(redis_url, tmp_path, monkeypatch):
    from riskapp.celery import app

    # Messages from the code under test go to this Redis.
    def send(*, job_id, queue):
        with app.connection_for_write(redis_url) as conn:
            app.send_task(services.RUN_JOB_TASK, args=[job_id], queue=queue, connection=conn)

    monkeypatch.setattr("riskapp.jobs.services.job_send", send)
    processes = CeleryProcesses(redis_url, tmp_path)
    yield processes
    processes.stop_all()


@pytest.fixture
def worker(celery_processes):
    """worker(concurrency=1, queues=..., **env) -> a running `celery worker -P prefork` (every queue by default);
    stopped at the end."""
    return celery_processes.worker


@pytest.fixture
def beat(celery_processes):
    """beat(**env) -> a running `celery beat`, which sends the reconciler on its schedule; stopped at the end."""
    return celery_processes.beat


@pytest.fixture
def bwrap():
    """Skip a test that needs bubblewrap where it cannot run; fail instead with RISKAPP_REQUIRE_SERVICES=1 (CI)."""
    if not bwrap_available():
        if os.environ.get("RISKAPP_REQUIRE_SERVICES") == "1":
            pytest.fail("bubblewrap is required (RISKAPP_REQUIRE_SERVICES=1) but cannot run here")
        pytest.skip("bubblewrap not available")
