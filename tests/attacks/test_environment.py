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
    assert report["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_bfloat16_support_agrees_with_the_cpu_flags():
    """The torch helpers behind precision "auto" (Neural Cleanse, PGD) must see what the kernel reports."""
    from pathlib import Path

    import pytest

    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo on this system")
    flags = next(
        (line.split(":", 1)[1].split() for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), []
    )
    amx = "amx_bf16" in flags and "amx_tile" in flags
    report = environment_report()
    assert report["cpu_bfloat16_matrix_units"] is amx
    # What precision "auto" reads (attacks.environment.resolve_precision): AMX, or AVX-512 BF16 dot products.
    assert report["cpu_bfloat16_native"] is (amx or "avx512_bf16" in flags)


def test_retain_freed_memory_serves_megabyte_blocks_from_the_heap_and_keeps_them():
    """Run in a fresh interpreter: the setting is process-wide. glibc's mallinfo2 shows where 8 MiB came from."""
    code = """
import ctypes
from attacks.environment import retain_freed_memory
class Info(ctypes.Structure):
    names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    _fields_ = [(name, ctypes.c_size_t) for name in names.split()]
libc = ctypes.CDLL(None)
if not hasattr(libc, "mallinfo2"):
    print("no-glibc"); raise SystemExit
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def allocate_and_free():
    block = libc.malloc(8 << 20)
    mapped = libc.mallinfo2().hblkhd
    libc.free(block)
    return mapped >= 8 << 20, libc.mallinfo2().fordblks >= 8 << 20
print(allocate_and_free(), retain_freed_memory(), allocate_and_free())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    if out == "no-glibc":
        import pytest

        pytest.skip("malloc is not glibc's")
    # Before: mapped on its own and unmapped when freed. After: carved from the heap and kept there once freed.
    assert out == "(True, False) True (False, True)"


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
