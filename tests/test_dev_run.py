"""`make run`'s launcher on the embedded default: SQLite and the filesystem broker, no services.

Starts bin/dev-run on a free port with a private data directory, signs in as the demo admin
it prints, runs an environment check through the real worker, and stops it with Ctrl-C.
"""

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    def __init__(self, base):
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path):
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.status, response.geturl(), response.read().decode()

    def post(self, path, data):
        token = next(c.value for c in self.cookies if c.name == "csrftoken")
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(self.base + path, data=body, headers={"Referer": self.base + path})  # noqa: S310
        with self.opener.open(request, timeout=30) as response:
            return response.status, response.geturl(), response.read().decode()


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_dev_run_serves_sign_in_runs_a_job_and_stops_everything_on_ctrl_c(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    env.update({"DEBUG": "1", "RISKAPP_DATA_DIR": str(tmp_path), "RISKAPP_PORT": str(port)})
    log = (tmp_path / "dev-run.log").open("w+")
    proc = subprocess.Popen(
        ["bin/dev-run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        browser = Browser(f"http://127.0.0.1:{port}")
        status, _, page = wait_for(lambda: browser.get("/accounts/login/"), 90, "the sign-in page")
        assert status == 200 and "Sign in" in page
        assert (tmp_path / "riskapp.sqlite3").exists() and (tmp_path / "broker" / "queue").is_dir()

        password = re.search(r"password: (\S+)", (tmp_path / "dev-run.log").read_text()).group(1)
        _, url, _ = browser.post("/accounts/login/", {"username": "admin", "password": password})
        assert url.endswith("/projects/")
        _, url, _ = browser.post("/projects/new/", {"name": "Demo", "description": "", "risk_appetite": "low"})
        project_path = urllib.parse.urlparse(url).path
        browser.post(f"{project_path}jobs/new/", {"kind": "environment_check", "environment_check-queue": "cpu"})

        def finished():
            _, _, table = browser.get(f"{project_path}jobs/")
            return "Succeeded" in table and table

        table = wait_for(finished, 120, "the environment check to succeed through the filesystem broker")
        assert "100%" in table
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends to the whole group
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        log.seek(0)
        print(log.read()[-3000:])
    wait_for(lambda: not group_alive(proc.pid), 20, "every process of the group to exit")
