import json
import subprocess
import sys

from attacks.environment import environment_report


def test_environment_report_names_the_engine_libraries():
    import numpy
    import torch

    report = environment_report()
    assert report["torch"] == torch.__version__ and report["numpy"] == numpy.__version__
    assert report["adversarial_robustness_toolbox"] == "1.20.1"
    assert report["cuda_available"] is torch.cuda.is_available()
    assert report["device_name"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU")
    assert report["cpu_count"] >= 1


def test_cli_environment_json_matches_the_library_report():
    out = subprocess.run(
        [sys.executable, "-m", "attacks", "environment", "--json"], capture_output=True, text=True, check=True
    ).stdout
    document = json.loads(out)
    assert document["numpy"] == environment_report()["numpy"]


def test_cli_usage_error_exits_2():
    result = subprocess.run([sys.executable, "-m", "attacks", "no-such-command"], capture_output=True, text=True)
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_engine_never_imports_django():
    code = "import sys, attacks.cli, attacks.runner, attacks.tasks; print('django' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_intake_modules_never_import_django_or_riskapp():
    modules = "attacks.scan, attacks.loading, attacks.intake, attacks.validate, attacks.architectures, attacks.networks"
    code = f"import sys, {modules}; print(any(m.split('.')[0] in ('django', 'riskapp') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
