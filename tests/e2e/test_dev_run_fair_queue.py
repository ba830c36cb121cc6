"""`make run`'s launcher keeps a worker for short interactive work: a dataset added while a long test holds the
attack worker is taken in at once (on the embedded default: SQLite and the filesystem broker)."""

import urllib.parse

from tests.e2e.conftest import wait_for
from tests.e2e.test_dev_run import Browser


def test_dev_run_takes_in_an_upload_while_a_long_test_holds_the_attack_worker(start_dev_server):
    server = start_dev_server()
    browser = Browser(server.base_url)
    browser.get("/accounts/login/")
    browser.post("/accounts/login/", {"username": "admin", "password": server.admin_password})
    _, url, _ = browser.post("/projects/new/", {"name": "Fair queue", "description": "", "risk_appetite": "low"})
    project_path = urllib.parse.urlparse(url).path
    for _ in range(2):  # one to hold the attack worker, one waiting behind it
        browser.post(
            f"{project_path}jobs/new/",
            {
                "kind": "speed_check",
                "speed_check-queue": "cpu",
                "speed_check-duration_s": "600",
                "speed_check-size": "64",
            },
        )
    wait_for(lambda: "Running" in browser.get(f"{project_path}jobs/")[2], 120, "the first long test to run")

    browser.post(f"{project_path}models/datasets/demo/", {})

    def both_ready():
        _, _, page = browser.get(f"{project_path}models/")
        return page.count(">Ready<") == 2 and page

    wait_for(both_ready, 240, "the two datasets' intake while the long test runs")
    _, _, jobs = browser.get(f"{project_path}jobs/")
    assert "Running" in jobs and "Queued" in jobs  # the long tests still hold the attack worker and its queue
