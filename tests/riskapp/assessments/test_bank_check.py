"""`manage.py bank_check`: counts on success, every problem and exit status 1 on broken content."""

import json
import re
import shutil
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from riskapp.assessments.bank import CONTENT_DIR, load_bank
from riskapp.assessments.management.commands.bank_check import Command


def installed_as_a_command() -> bool:
    """True when Django is set up with riskapp.assessments installed, so `bank_check` resolves by name."""
    from django.conf import settings

    if not settings.configured:
        return False
    from django.apps import apps

    return apps.ready and apps.is_installed("riskapp.assessments")


@pytest.fixture
def broken_content(tmp_path):
    copy = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, copy)
    threats = copy / "threats.yaml"
    threats.write_text(threats.read_text().replace("AML.T0043.002", "AML.T0043.009", 1))
    return copy


def run_bank_check(*args):
    out = StringIO()
    call_command(Command(), *args, stdout=out)
    return out.getvalue()


def test_bank_check_json_reports_counts():
    summary = json.loads(run_bank_check("--json"))
    bank = load_bank()
    assert summary["questions"] == len(bank.questions) >= 45
    assert summary["threats"] == len(bank.threats) >= 14
    assert isinstance(summary["questions"], int) and isinstance(summary["threats"], int)
    assert summary["version"] == 3
    assert set(summary["areas"]) == {area.id for area in bank.areas}
    assert summary["evidence_rules"] == len(bank.evidence_rules)
    assert summary["plan_rules"] == len(bank.plan_rules)


def test_bank_check_prints_a_readable_summary():
    output = run_bank_check()
    bank = load_bank()
    assert "Question bank v3 is valid" in output
    assert re.search(rf"^  questions\s+{len(bank.questions)}$", output, re.MULTILINE)
    assert re.search(rf"^  threats\s+{len(bank.threats)}$", output, re.MULTILINE)
    assert re.search(r"^    teacher\s+\d+$", output, re.MULTILINE)


def test_bank_check_checks_another_directory_with_path(tmp_path):
    copy = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, copy)
    assert json.loads(run_bank_check("--json", "--path", str(copy)))["directory"] == str(copy)


def test_bank_check_rejects_a_broken_copy_naming_the_problem(broken_content):
    with pytest.raises(CommandError) as caught:
        run_bank_check("--path", str(broken_content))
    assert "unknown ATLAS ID 'AML.T0043.009'" in str(caught.value)
    assert "1 problem(s)" in str(caught.value)


def test_bank_check_exits_with_status_1_from_the_command_line(broken_content, capsys):
    with pytest.raises(SystemExit) as caught:
        Command().run_from_argv(["manage.py", "bank_check", "--json", "--path", str(broken_content)])
    assert caught.value.code == 1
    assert "AML.T0043.009" in capsys.readouterr().err


@pytest.mark.skipif(
    not installed_as_a_command(), reason="needs Django settings with riskapp.assessments in INSTALLED_APPS"
)
def test_bank_check_is_available_as_a_management_command():
    out = StringIO()
    call_command("bank_check", "--json", stdout=out)
    assert json.loads(out.getvalue())["threats"] == len(load_bank().threats)
