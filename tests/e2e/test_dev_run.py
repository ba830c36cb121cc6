"""`make run`'s launcher on the embedded default: SQLite and the filesystem broker, no services.

Signs in as the demo admin it prints, runs an environment check through the real worker, and
stops everything with Ctrl-C.
"""

import http.cookiejar
import os
import urllib.parse
import urllib.request

from tests.e2e.conftest import wait_for


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


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_dev_run_serves_sign_in_runs_a_job_and_stops_everything_on_ctrl_c(start_dev_server):
    server = start_dev_server()
    assert (server.data_dir / "riskapp.sqlite3").exists() and (server.data_dir / "broker" / "queue").is_dir()
    browser = Browser(server.base_url)
    status, _, page = browser.get("/accounts/login/")
    assert status == 200 and "Sign in" in page

    _, url, _ = browser.post("/accounts/login/", {"username": "admin", "password": server.admin_password})
    assert url.endswith("/projects/")
    _, url, _ = browser.post("/projects/new/", {"name": "Demo", "description": "", "risk_appetite": "low"})
    project_path = urllib.parse.urlparse(url).path
    browser.post(f"{project_path}jobs/new/", {"kind": "environment_check", "environment_check-queue": "cpu"})

    def finished():
        _, _, table = browser.get(f"{project_path}jobs/")
        return "Succeeded" in table and table

    table = wait_for(finished, 120, "the environment check to succeed through the filesystem broker")
    assert "100%" in table

    server.ctrl_c()
    wait_for(lambda: not group_alive(server.proc.pid), 20, "every process of the group to exit")
