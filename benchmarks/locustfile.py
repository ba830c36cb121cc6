"""riskapp's users for the load test (benchmarks/load.py runs this file with locust, headless).

Each simulated user signs in once, then does what a security team and its managers do, with a few seconds of
reading between clicks: the portfolio (first page, or filtered, sorted and paged), a project's overview, risk
page and register, a finished job's result page, and watching a running job, whose progress the page polls
every 2 seconds through htmx until the user moves on. Static files are left out: a browser keeps them cached.

RISKAPP_LOAD_TARGETS names a JSON file written by load.py: the username and password, projects with the ids
of their finished jobs, and the running jobs to watch. Every request is also written to RISKAPP_LOAD_REQUESTS
(a CSV: start time, page kind, milliseconds, failed), from which load.py computes exact percentiles (locust's
own round to two significant digits) for the whole run and for the part after every user has signed in.
"""

from __future__ import annotations

import csv
import json
import os
import random
from pathlib import Path

import gevent
from locust import HttpUser, between, events, task

TARGETS = json.loads(Path(os.environ["RISKAPP_LOAD_TARGETS"]).read_text())
HTMX = {"HX-Request": "true"}
POLL_SECONDS = 2  # hx-trigger="every 2s" in templates/jobs/_progress.html and _table.html
BANDS = ["", "critical", "high", "medium", "low"]
SORTS = ["band", "score", "above", "status", "name"]
STATUSES = ["", "draft", "submitted", "approved"]
PAGES = 20  # 1,000 projects, 50 a page
REQUESTS: list[tuple[float, str, float, bool]] = []


@events.request.add_listener
def _record(name, response_time, exception, start_time, **kwargs) -> None:
    REQUESTS.append((start_time, name, response_time, exception is not None))


@events.quitting.add_listener
def _write(**kwargs) -> None:
    with Path(os.environ["RISKAPP_LOAD_REQUESTS"]).open("w", newline="") as handle:
        csv.writer(handle).writerows(REQUESTS)


class RiskappUser(HttpUser):
    wait_time = between(2, 5)  # reading the page before the next click

    def on_start(self) -> None:
        self._get("/accounts/login/", "sign-in page")
        fields = {
            "username": TARGETS["username"],
            "password": TARGETS["password"],
            "csrfmiddlewaretoken": self.client.cookies.get("csrftoken", ""),
        }
        with self.client.post(
            "/accounts/login/", fields, name="sign in", allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code != 302 or "/accounts/login/" in response.headers.get("Location", ""):
                response.failure(f"sign-in answered {response.status_code}, not a redirect into the app")
        self._plain_http_cookies()

    def _plain_http_cookies(self) -> None:
        # With DEBUG off riskapp marks its cookies Secure; this test runs over plain HTTP on 127.0.0.1 (no TLS
        # proxy in front), where a client would not send them back.
        for cookie in self.client.cookies:
            cookie.secure = False

    def _get(self, path: str, name: str, headers: dict[str, str] | None = None) -> None:
        with self.client.get(path, name=name, headers=headers, catch_response=True) as response:
            self._plain_http_cookies()
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
            elif "/accounts/login/" in response.url and name not in ("sign-in page",):
                response.failure("sent back to the sign-in page: the session was lost")

    def _project(self) -> dict:
        return random.choice(TARGETS["projects"])

    @task(4)
    def portfolio(self) -> None:
        self._get("/portfolio/", "portfolio")

    @task(3)
    def portfolio_filtered(self) -> None:
        query = {"sort": random.choice(SORTS), "dir": random.choice(["asc", "desc"])}
        if band := random.choice(BANDS):
            query["band"] = band
        if status := random.choice(STATUSES):
            query["status"] = status
        if random.random() < 0.5:
            query["page"] = str(random.randint(1, PAGES))
        if random.random() < 0.2:
            query["q"] = f"{random.randint(1, 99):02d}"
        self._get("/portfolio/?" + "&".join(f"{k}={v}" for k, v in query.items()), "portfolio (filter, sort, page)")

    @task(3)
    def project_overview(self) -> None:
        self._get(f"/projects/{self._project()['id']}/", "project overview")

    @task(3)
    def risk_page(self) -> None:
        self._get(f"/projects/{self._project()['id']}/risk/", "project risk page")

    @task(2)
    def register(self) -> None:
        self._get(f"/projects/{self._project()['id']}/assessment/register/", "risk register")

    @task(3)
    def job_result(self) -> None:
        project = self._project()
        self._get(f"/projects/{project['id']}/jobs/{random.choice(project['jobs'])}/", "job result page")

    @task(2)
    def watch_a_job(self) -> None:
        """Open a running job's page and keep it open while htmx polls its progress bar."""
        running = random.choice(TARGETS["running"])
        base = f"/projects/{running['project']}/jobs/{running['job']}/"
        self._get(base, "running job page")
        for _ in range(random.randint(3, 10)):
            gevent.sleep(POLL_SECONDS)
            self._get(base + "progress/", "job progress (htmx poll)", HTMX)

    @task(1)
    def watch_the_jobs_table(self) -> None:
        """Open the overview of a project with a running job: its jobs table polls while any job is active."""
        running = random.choice(TARGETS["running"])
        self._get(f"/projects/{running['project']}/", "project overview")
        for _ in range(random.randint(3, 10)):
            gevent.sleep(POLL_SECONDS)
            self._get(f"/projects/{running['project']}/jobs/", "jobs table (htmx poll)", HTMX)
