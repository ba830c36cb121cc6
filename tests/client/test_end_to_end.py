"""riskapp-ci against a live riskapp with a real worker running the sandboxed engine: a robust-enough model
passes the project's gates, a backdoored one fails and the JUnit report names the failed gate."""

import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.db import connection

from riskapp.accounts.services import api_token_create
from riskapp.artifacts.models import DatasetArtifact, IntakeStatus
from riskapp.artifacts.services import dataset_add_demo
from riskapp.assessments.models import AssessmentVersion
from riskapp.gates.models import GateKind, QualityGate
from riskapp.jobs.execute import job_execute
from riskapp.jobs.models import Job, JobStatus

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)

# Answers that keep the plan to a clean baseline and one PGD attack at ε 0.02 (the gates add a backdoor scan).
ANSWERS = {
    "context.uses_pretrained": "no",
    "context.security_decision": "no",
    "context.physical_harm": "no",
    "requirements.integrity_need": "low",
    "requirements.input_eps": 0.02,
    "deployment.api_output": [],
    "operation.continual_learning": "no",
    "fine_tuning.data_origin": ["own"],
    "fine_tuning.outsourced": "no",
}


class Worker(threading.Thread):
    """Runs every queued job of the test database through the real executor and sandbox, one at a time."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stopping = threading.Event()

    def run(self):
        try:
            while not self.stopping.is_set():
                job = Job.objects.filter(status=JobStatus.QUEUED).order_by("id").first()
                if job is None:
                    time.sleep(0.2)
                    continue
                job_execute(job_id=job.pk)
        finally:
            connection.close()

    def stop(self):
        self.stopping.set()
        self.join(60)


@pytest.fixture
def gated_project(team, live_server):
    AssessmentVersion.objects.create(project=team.project, number=1, bank_version=1, answers=ANSWERS)
    QualityGate.objects.create(
        project=team.project,
        kind=GateKind.MIN_ROBUST_ACCURACY,
        params={"attack": "pgd_linf", "eps": 0.02, "threshold": 0.3},
    )
    QualityGate.objects.create(project=team.project, kind=GateKind.NO_BACKDOOR_FLAG)
    # This test is about the measured gates: the owner switches off the register's default gate (its unanswered
    # questions leave risks above the appetite, which would fail every build).
    QualityGate.objects.create(project=team.project, kind=GateKind.NO_UNACCEPTED_RISK_ABOVE_APPETITE, enabled=False)
    worker = Worker()
    worker.start()
    dataset_add_demo(actor=team.owner, project=team.project)
    deadline = time.monotonic() + 120
    while not DatasetArtifact.objects.filter(project=team.project, status=IntakeStatus.READY).exists():
        assert time.monotonic() < deadline, "the demo dataset's intake did not finish"
        time.sleep(0.3)
    _, token = api_token_create(user=team.assessor, name="CI")
    yield team.project, token
    worker.stop()


def riskapp_ci(*args, token, tmp_path):
    """The client as a CI runner starts it: its own process, no Django on its path."""
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT / "client"),
        "RISKAPP_TOKEN": token,
    }
    return subprocess.run(
        [sys.executable, "-m", "riskapp_ci", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def check(live_server, project, token, tmp_path, model_file, name, report):
    return riskapp_ci(
        "check",
        "--url",
        live_server.url,
        "--project",
        str(project.pk),
        "--model-file",
        str(model_file),
        "--name",
        name,
        "--version",
        "1",
        "--arch",
        "cnn-digits",
        "--classes",
        "10",
        "--sample-limit",
        "100",
        "--backdoor-steps",
        "300",
        "--poll",
        "0.5",
        "--timeout",
        "800",
        "--junit",
        str(tmp_path / report),
        token=token,
        tmp_path=tmp_path,
    )


def test_robust_model_passes_and_backdoored_model_fails_the_gates(
    gated_project, live_server, trained_cnn, paths, tmp_path
):
    project, token = gated_project

    passed = check(live_server, project, token, tmp_path, trained_cnn["safetensors"], "digits-cnn", "pass.xml")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "min_robust_accuracy" in passed.stdout and "passed" in passed.stdout
    suite = ET.parse(tmp_path / "pass.xml").getroot().find("testsuite")  # noqa: S314 - our own report
    assert suite.get("name") == "riskapp quality gates" and suite.get("failures") == "0"
    assert len(suite.findall("testcase")) == 3 and suite.get("skipped") == "1"  # the register gate, switched off

    failed = check(live_server, project, token, tmp_path, paths["teacher"], "downloaded-teacher", "fail.xml")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    suite = ET.parse(tmp_path / "fail.xml").getroot().find("testsuite")  # noqa: S314 - our own report
    failures = {case.get("name"): case.find("failure") for case in suite.findall("testcase")}
    backdoor = next(f for name, f in failures.items() if name.startswith("no_backdoor_flag"))
    assert backdoor is not None and "gate no_backdoor_flag failed" in backdoor.get("message")
    assert "backdoor suspected in class 0" in backdoor.text
    assert "quality gate(s) failed: " in failed.stderr and "no_backdoor_flag" in failed.stderr
