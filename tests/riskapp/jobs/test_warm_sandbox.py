"""Warm sandboxes: a spare interpreter started ahead of the next job, used once, then replaced."""

import os
from pathlib import Path

import pytest

from riskapp.jobs import sandbox
from riskapp.jobs.sandbox import SandboxLimits, discard_spare_sandboxes, run_in_sandbox

# A module the engine never imports by itself: seeing it imported proves the preload ran.
MARKER = "xml.dom.minidom"


@pytest.fixture(autouse=True)
def no_spares_left():
    discard_spare_sandboxes()
    yield
    discard_spare_sandboxes()


def report(base_dir, **params):
    return run_in_sandbox(
        task="sandbox_selftest",
        params={"behaviour": "report", "modules": [MARKER], **params},
        limits=SandboxLimits(wall_seconds=120),
        base_dir=base_dir,
        warm=True,
        preload=[MARKER],
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_first_job_starts_cold_and_leaves_a_spare_that_the_next_job_uses(tmp_path):
    first = report(tmp_path)
    assert first.status == "succeeded" and not first.warm
    assert first.result["imported"] == [False]  # a cold start imports only what its task needs
    (spare,) = sandbox._spares.values()
    assert alive(spare.proc.pid)

    second = report(tmp_path)
    assert second.status == "succeeded" and second.warm
    assert second.result["imported"] == [True]
    assert second.pid == spare.proc.pid != first.pid


def test_a_spare_is_used_for_one_job_only(tmp_path):
    report(tmp_path)
    second, third = report(tmp_path), report(tmp_path)
    assert second.warm and third.warm
    assert len({second.pid, third.pid}) == 2
    assert not alive(second.pid) and not os.path.exists(second.result["cwd"])
    (spare,) = sandbox._spares.values()
    assert spare.proc.pid not in (second.pid, third.pid)


def test_a_spare_that_died_while_waiting_is_replaced_by_a_cold_start(tmp_path):
    report(tmp_path)
    (spare,) = sandbox._spares.values()
    spare.proc.kill()
    spare.proc.wait()
    outcome = report(tmp_path)
    assert outcome.status == "succeeded" and not outcome.warm


def test_inputs_over_the_copy_limit_start_cold_and_keep_the_spare(tmp_path, monkeypatch):
    report(tmp_path)
    (spare,) = sandbox._spares.values()
    big = tmp_path / "big.npz"
    big.write_bytes(b"x" * 2048)
    monkeypatch.setattr(sandbox, "WARM_COPY_LIMIT_BYTES", 1024)
    outcome = run_in_sandbox(
        task="sandbox_selftest",
        params={"behaviour": "report", "read": [str(big)]},
        limits=SandboxLimits(wall_seconds=120),
        base_dir=tmp_path,
        inputs=[big],
        warm=True,
        preload=[MARKER],
    )
    assert outcome.status == "succeeded" and not outcome.warm
    assert list(sandbox._spares.values()) == [spare]


def test_an_isolated_warm_job_reads_a_copy_of_its_input_and_cannot_see_or_change_the_stored_file(bwrap, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    stored = data / "model.safetensors"
    stored.write_text("the stored weights")
    other = data / "other-project.npz"
    other.write_text("another project's data")
    work = tmp_path / "sandboxes"

    def run():
        return run_in_sandbox(
            task="sandbox_selftest",
            params={
                "behaviour": "report",
                "modules": [MARKER],
                "read": [str(stored), str(other)],
                "overwrite": [str(stored)],
            },
            limits=SandboxLimits(wall_seconds=120),
            base_dir=work,
            isolate=True,
            hide=[data],
            inputs=[stored],
            warm=True,
            preload=[MARKER],
        )

    cold, warm = run(), run()
    for outcome in (cold, warm):
        assert outcome.status == "succeeded", outcome.error + outcome.log_tail
        # its input, and nothing else of the hidden data folder
        assert outcome.result["read"] == ["the stored weights", None]
    assert not cold.warm and warm.warm and warm.result["imported"] == [True]
    assert cold.result["can_overwrite"] == [False]  # bound read-only in place
    assert warm.result["can_overwrite"] == [True]  # its own copy...
    assert stored.read_text() == "the stored weights"  # ...never the stored file


def test_a_worker_process_starts_its_spare_as_it_comes_up_when_warm_sandboxes_are_on(settings, tmp_path):
    from riskapp.celery import start_spare_sandbox

    settings.JOB_SANDBOX_DIR = tmp_path
    settings.JOB_SANDBOX_PRELOAD = [MARKER]
    settings.JOB_SANDBOX_WARM = False
    start_spare_sandbox()
    assert not sandbox._spares
    settings.JOB_SANDBOX_WARM = True
    start_spare_sandbox()
    (spare,) = sandbox._spares.values()
    assert alive(spare.proc.pid) and spare.workdir.parent == tmp_path


def test_a_folder_prepared_in_the_work_folder_is_writable_by_an_isolated_task_cold_or_warm(bwrap, tmp_path):
    """What the worker's checkpoint folder relies on (riskapp.jobs.checkpoints): made by `prepare` once the
    sandbox is chosen, a spare started before it included, and still there when `on_finish` runs."""
    seen = []

    def prepare(workdir):
        folder = workdir / "checkpoint"
        folder.mkdir()
        (folder / "checkpoint.json").write_text("from the last attempt;")
        return {"overwrite": [str(folder / "checkpoint.json")], "read": [str(folder / "checkpoint.json")]}

    def run():
        return run_in_sandbox(
            task="sandbox_selftest",
            params={"behaviour": "report"},
            limits=SandboxLimits(wall_seconds=120),
            base_dir=tmp_path / "sandboxes",
            isolate=True,
            warm=True,
            prepare=prepare,
            on_finish=lambda outcome: seen.append(
                (Path(outcome.result["cwd"]) / "checkpoint" / "checkpoint.json").read_text()
            ),
        )

    cold, warm = run(), run()
    for outcome in (cold, warm):
        assert outcome.status == "succeeded", outcome.error + outcome.log_tail
        assert outcome.result["read"] == ["from the last attempt;"] and outcome.result["can_overwrite"] == [True]
    assert not cold.warm and warm.warm
    assert seen == ["from the last attempt;changed by the task"] * 2
