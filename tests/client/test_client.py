"""riskapp-ci on its own: imports without Django, exit codes for usage errors, the JUnit report and the table."""

import io
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[2] / "client"
sys.path.insert(0, str(CLIENT))

from riskapp_ci import EXIT_USAGE  # noqa: E402
from riskapp_ci.cli import main  # noqa: E402
from riskapp_ci.report import Progress, junit_xml, summary_table  # noqa: E402

EVALUATION = {
    "model_id": 3,
    "passed": False,
    "gates": [
        {
            "gate": {"id": 1, "kind": "min_robust_accuracy", "description": "robust accuracy ≥ 0.5", "enabled": True},
            "status": "passed",
            "passed": True,
            "measured": 0.61,
            "message": "robust accuracy 0.610 meets 0.5",
        },
        {
            "gate": {"id": 2, "kind": "no_backdoor_flag", "description": "no backdoor flagged", "enabled": True},
            "status": "failed",
            "passed": False,
            "measured": [0],
            "message": "backdoor suspected in class 0 (job 9)",
        },
        {
            "gate": {"id": 3, "kind": "max_transfer_success", "description": "transfer ≤ 0.2", "enabled": True},
            "status": "not measured",
            "passed": None,
            "measured": None,
            "message": "not measured",
        },
    ],
}
JOBS = [
    {"id": 8, "kind": "attack", "status": "succeeded", "is_finished": True, "error": ""},
    {"id": 9, "kind": "transfer_attack", "status": "failed", "is_finished": True, "error": "Out of memory\nmore"},
]


def test_the_client_imports_without_django():
    # -I (isolated) ignores PYTHONPATH and the current folder: the client's folder is put on the path by hand.
    code = (
        f"import sys; sys.path.insert(0, {str(CLIENT)!r}); import riskapp_ci, riskapp_ci.cli; "
        "assert 'django' not in sys.modules, 'django imported'; print('ok')"
    )
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd="/")
    assert result.stdout.strip() == "ok", result.stderr


def test_missing_token_is_a_usage_error(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("RISKAPP_TOKEN", raising=False)
    code = main(["gates", "--url", "http://127.0.0.1:9", "--project", "1", "--model", "2"])
    assert code == EXIT_USAGE and "RISKAPP_TOKEN" in capsys.readouterr().err


def test_bad_arguments_and_an_unreachable_server_are_usage_errors(capsys):
    assert main(["check", "--project", "x"]) == EXIT_USAGE
    code = main(["gates", "--url", "http://127.0.0.1:9", "--token", "t", "--project", "1", "--model", "2"])
    assert code == EXIT_USAGE and "cannot reach" in capsys.readouterr().err


def test_junit_report_names_failed_and_unmeasured_gates_and_failed_jobs():
    root = ET.fromstring(junit_xml(EVALUATION, JOBS, model_label="student v3"))  # noqa: S314 - our own output
    suite = root.find("testsuite")
    assert suite.get("name") == "riskapp quality gates"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "2", "1")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert cases["min_robust_accuracy: robust accuracy ≥ 0.5"].find("failure") is None
    failure = cases["no_backdoor_flag: no backdoor flagged"].find("failure")
    assert failure.get("message") == "gate no_backdoor_flag failed: measured 0"
    assert cases["max_transfer_success: transfer ≤ 0.2"].find("failure").get("type") == "not_measured"
    assert cases["job 9 transfer_attack"].find("error").text.startswith("Out of memory")


def test_summary_table_lists_each_gate_and_failed_job():
    table = summary_table(EVALUATION, JOBS)
    assert "0.610" in table and "not measured" in table and "job 9 transfer_attack" in table
    assert "job 8" not in table


def test_progress_prints_one_line_per_change_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress(stream)
    running = [{"id": 1, "kind": "attack", "status": "running", "is_finished": False, "progress": 50}]
    progress.update(running)
    progress.update(running)
    progress.update([{**running[0], "status": "succeeded", "is_finished": True}])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in stream.getvalue() and "1/1 jobs done" in lines[1]
