"""A real riskapp started the way `make run` starts it (bin/dev-run), on a free port and a private data dir."""

import os
import re
import shutil
import signal
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import processes
from tests.attacks.conftest import digits, trained_cnn  # noqa: F401 - engine fixtures for the upload test
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CSP_VIOLATION = "Content-Security-Policy violation:"


def wait_for(predicate, timeout, what, interval=0.3):
    """tests.processes.wait_for, where a server that refuses connections (OSError) is not up yet."""
    return processes.wait_for(predicate, timeout, what, interval, ignoring=(OSError,))


@dataclass
class DevServer:
    proc: subprocess.Popen
    base_url: str
    data_dir: Path
    log_path: Path
    env: dict

    def manage(self, *args: str) -> str:
        """Run a management command against this server's database."""
        result = subprocess.run(
            [".venv/bin/python", "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=True
        )
        return result.stdout

    @property
    def admin_password(self) -> str:
        return re.search(r"password: (\S+)", self.log_path.read_text()).group(1)

    def ctrl_c(self) -> int:
        """What Ctrl-C in the terminal does: SIGINT to the whole foreground process group."""
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise


def sign_in_page(base_url):
    with urllib.request.urlopen(base_url + "/accounts/login/", timeout=10) as response:  # noqa: S310
        return response.status == 200


@pytest.fixture
def start_dev_server(tmp_path):
    started = []

    def start() -> DevServer:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
        # No demo project: its queued tests would hold the worker that these tests need.
        env.update(
            {
                "DEBUG": "1",
                "RISKAPP_DATA_DIR": str(tmp_path / "data"),
                "RISKAPP_PORT": str(port),
                "RISKAPP_SEED_DEMO": "0",
            }
        )
        log_path = tmp_path / "dev-run.log"
        log = log_path.open("w")
        proc = subprocess.Popen(
            ["bin/dev-run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        server = DevServer(proc, f"http://127.0.0.1:{port}", tmp_path / "data", log_path, env)
        started.append((server, log))
        wait_for(lambda: sign_in_page(server.base_url), 120, "the sign-in page")
        return server

    yield start
    for server, log in started:
        if server.proc.poll() is None:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait()
        log.close()
        print(server.log_path.read_text()[-3000:])


@pytest.fixture
def browser_page():
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        if os.environ.get("RISKAPP_REQUIRE_SERVICES") == "1":
            pytest.fail("Debian's chromium is required (RISKAPP_REQUIRE_SERVICES=1) but not installed")
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        # Every page of every browser test runs under riskapp's Content-Security-Policy: a blocked script,
        # style or request, or an uncaught script error, fails the test that caused it.
        problems = []
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => console.error("
            f"'{CSP_VIOLATION} ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')"
            " + ' on ' + e.documentURI))"
        )
        page.on("console", lambda message: CSP_VIOLATION in message.text and problems.append(message.text))
        page.on("pageerror", lambda error: problems.append(f"script error on {page.url}: {error}"))
        page.problems = problems  # a test that provokes a violation on purpose takes it out of here
        yield page
        browser.close()
        assert not problems, "\n".join(problems)
