"""The sandbox: a fresh interpreter with nothing of the worker's environment, limited and killable."""

import os

import pytest

from riskapp.jobs.sandbox import SandboxLimits, Tick, run_in_sandbox


def selftest(behaviour, limits=None, **kwargs):
    params = {"behaviour": behaviour, **kwargs.pop("params", {})}
    return run_in_sandbox(
        task="sandbox_selftest", params=params, limits=limits or SandboxLimits(wall_seconds=60), **kwargs
    )


def test_the_task_sees_an_empty_environment_without_the_workers_secrets(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "worker-secret")
    monkeypatch.setenv("DATABASE_URL", "postgres://user:password@db/riskapp")
    outcome = selftest("report")
    assert outcome.status == "succeeded"
    environ = outcome.result["environ"]
    assert "SECRET_KEY" not in environ and "DATABASE_URL" not in environ and "REDIS_URL" not in environ
    assert set(environ) <= {
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "CUDA_VISIBLE_DEVICES",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_CORETYPE",
    }


def test_the_task_runs_in_a_private_folder_that_is_deleted_afterwards():
    outcome = selftest("report")
    workdir = outcome.result["cwd"]
    assert os.path.basename(workdir).startswith("riskapp-job-")
    assert outcome.result["environ"]["HOME"] == workdir and outcome.result["umask"] == "0o77"
    assert not os.path.exists(workdir)


def test_resource_limits_are_set_and_cannot_be_raised_again():
    limits = SandboxLimits(wall_seconds=60, cpu_seconds=77, max_file_bytes=1024**3, max_open_files=256)
    outcome = selftest("report", limits)
    got = outcome.result["limits"]
    assert got["core"] == [0, 0]
    assert got["cpu"] == [77, 77] and got["fsize"] == [1024**3, 1024**3] and got["nofile"] == [256, 256]


def test_the_wall_clock_kill_stops_a_hanging_task_and_leaves_no_process():
    outcome = selftest("hang", SandboxLimits(wall_seconds=2), params={"seconds": 60})
    assert outcome.status == "timed_out"
    with pytest.raises(ProcessLookupError):
        os.kill(outcome.pid, 0)


def test_a_crash_is_reported_not_raised():
    outcome = selftest("crash")
    assert outcome.status == "failed" and "SIGABRT" in outcome.error


def test_stdout_noise_cannot_forge_a_result():
    outcome = selftest("noisy")
    assert outcome.status == "succeeded" and outcome.result == {"noisy": True}


def test_progress_reaches_the_caller_and_output_files_reach_on_finish():
    seen = []
    kept = []
    outcome = selftest(
        "sleep",
        params={"seconds": 0.6},
        on_progress=lambda tick: seen.append(tick.percent),
        on_finish=lambda o: kept.extend((f.name, f.read_text()) for f in o.output_files),
    )
    assert outcome.status == "succeeded" and seen and all(0 <= p <= 100 for p in seen)
    assert kept == [("slept.txt", "0.6\n")]


def test_abandon_stops_the_task_at_once():
    outcome = selftest("sleep", params={"seconds": 30}, on_tick=lambda: Tick.ABANDON, tick_seconds=0.2)
    assert outcome.status == "abandoned"
    with pytest.raises(ProcessLookupError):
        os.kill(outcome.pid, 0)


def test_unknown_engine_task_fails_cleanly():
    outcome = run_in_sandbox(task="no_such_task", params={}, limits=SandboxLimits(wall_seconds=30))
    assert outcome.status == "failed" and "Bad sandbox spec" in outcome.error


def test_folders_left_by_a_killed_launcher_are_swept(tmp_path):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"riskapp-job-{dead.pid}-abc"
    stale.mkdir()
    live = tmp_path / f"riskapp-job-{os.getpid()}-keep"
    live.mkdir()
    outcome = run_in_sandbox(
        task="sandbox_selftest",
        params={"behaviour": "report"},
        limits=SandboxLimits(wall_seconds=60),
        base_dir=tmp_path,
    )
    assert outcome.status == "succeeded"
    assert not stale.exists() and live.exists()


def test_an_isolated_task_has_no_network_and_cannot_see_the_data_folder(bwrap, tmp_path):
    import socket

    secret_dir = tmp_path / "data"
    secret_dir.mkdir()
    (secret_dir / "riskapp.sqlite3").write_text("every project's data")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        params = {"connect": [["127.0.0.1", port]], "list": [str(secret_dir)]}
        plain = selftest("report", params=params)
        isolated = selftest("report", params=params, isolate=True, hide=[secret_dir])
    assert plain.result["can_connect"] == [True] and plain.result["can_list"] == [True]
    assert isolated.status == "succeeded", isolated.error + isolated.log_tail
    assert isolated.result["can_connect"] == [False] and isolated.result["can_list"] == [False]


def test_an_isolated_task_still_dies_on_the_wall_clock(bwrap):
    outcome = selftest("hang", SandboxLimits(wall_seconds=2), params={"seconds": 60}, isolate=True)
    assert outcome.status == "timed_out"
    with pytest.raises(ProcessLookupError):
        os.kill(outcome.pid, 0)


def test_an_isolated_task_cannot_see_other_jobs_folders(bwrap, tmp_path):
    neighbour = tmp_path / "riskapp-job-1-other"
    neighbour.mkdir()
    (neighbour / "model.safetensors").write_text("another project's model")
    outcome = selftest("report", params={"list": [str(neighbour), str(tmp_path)]}, isolate=True, base_dir=tmp_path)
    assert outcome.status == "succeeded", outcome.error + outcome.log_tail
    assert outcome.result["can_list"] == [False, True]  # only its own folder is in the base folder
