"""Run one claimed job in the sandbox and record what happened. Called by the Celery task."""

import functools
import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.core.files import File
from django.db import InterfaceError, OperationalError, connection, transaction

from attacks.progress import ProgressTick
from riskapp.jobs import services
from riskapp.jobs.checkpoints import StoredCheckpoint
from riskapp.jobs.inputs import StoredInputError, job_inputs
from riskapp.jobs.kinds import get_kind
from riskapp.jobs.models import Job, JobFile, JobStatus
from riskapp.jobs.sandbox import (
    SandboxLimits,
    SandboxOutcome,
    Tick,
    bwrap_available,
    prepare_spare_sandbox,
    run_in_sandbox,
)
from riskapp.storage import TRANSFER_ATTEMPTS, is_transient, with_transfer_retries

log = logging.getLogger(__name__)
T = TypeVar("T")

HEARTBEAT_EVERY_S = 1.0
MAX_OUTPUT_FILES = 100
MAX_OUTPUT_FILE_BYTES = 64 * 1024**2
CHECKPOINT_FOLDER = "checkpoint"  # in the sandbox's work folder: the task's `checkpoint_dir`


def sandbox_limits() -> SandboxLimits:
    cpus = os.cpu_count() or 1
    return SandboxLimits(
        wall_seconds=settings.JOB_TIME_LIMIT,
        # CPU time adds up over threads: allow every core for the whole wall time, then some.
        cpu_seconds=settings.JOB_TIME_LIMIT * cpus + 60,
        max_file_bytes=settings.JOB_SANDBOX_MAX_FILE_BYTES,
        max_address_space_bytes=settings.JOB_SANDBOX_MEMORY_MB * 1024**2,
        cancel_grace_seconds=settings.JOB_CANCEL_GRACE,
    )


def sandbox_isolation() -> bool:
    """Whether to run tasks under bubblewrap, per RISKAPP_SANDBOX_ISOLATION."""
    mode = settings.JOB_SANDBOX_ISOLATION
    if mode == "off":
        return False
    if bwrap_available():
        return True
    if mode == "on":
        raise RuntimeError(
            "RISKAPP_SANDBOX_ISOLATION=on, but bubblewrap is missing or may not create namespaces on this worker."
        )
    return False


def prepare_spare() -> None:
    """Start this worker process's spare sandbox (when RISKAPP_SANDBOX_WARM is on), so its first job starts warm."""
    if not settings.JOB_SANDBOX_WARM:
        return
    try:
        prepare_spare_sandbox(
            base_dir=settings.JOB_SANDBOX_DIR,
            isolate=sandbox_isolation(),
            hide=[settings.DATA_DIR],
            preload=settings.JOB_SANDBOX_PRELOAD,
        )
    except (OSError, RuntimeError):
        log.exception("could not start a spare sandbox; the first job starts cold")


def _reconnecting(job: Job, what: str, write: Callable[[], T]) -> T:
    """Run one write of a running job; if the database connection was lost meanwhile (a database
    restart or failover, an administrator ending the session), open a new one and run it once more.

    Jobs run for hours on one connection, and Celery only replaces broken connections between
    tasks. Running a write twice is safe: each is a conditional UPDATE on (status, attempts), in a
    transaction that either committed or was rolled back whole (output files stored before the cut
    stay on disk, unreferenced). A write that committed just before the cut finds the job no longer
    running the second time, and changes nothing.
    """
    try:
        return write()
    except (OperationalError, InterfaceError) as error:
        if connection.in_atomic_block:
            raise  # the enclosing transaction is lost with the connection: its owner repeats it whole
        log.warning("job %s: database connection lost during %s (%s); reconnecting", job.pk, what, error)
        connection.close()
        return write()


class StoredOutputError(Exception):
    """A job's output could not be stored, even after the transient-error retries; the message says which."""


class JobRun:
    """One claimed attempt of a job: its inputs fetched, its task run in the sandbox, its outcome recorded.

    What the attempt learns as it goes (the latest progress tick, its final status, whether its sandbox was
    started in advance) is kept on the instance; the sandbox launcher calls the on_* methods.

    A kind that checkpoints (an evaluation kind declared with `checkpoints`) gets a `checkpoint_dir` in the
    sandbox's work folder, filled from the job's stored checkpoint; each new checkpoint the task writes there
    is stored on the next heartbeat, and the stored one is deleted when the job ends (riskapp.jobs.checkpoints).
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self.kind = get_kind(job.kind)
        self.latest: ProgressTick | None = None
        self.final_status: str | None = None
        self.started = "cold"
        # Only evaluation kinds declare it; the jobs app's own kinds never checkpoint.
        checkpoints = getattr(self.kind, "checkpoints", False)
        self.checkpoint = StoredCheckpoint(job_id=job.pk, on_tick=self.on_tick) if checkpoints else None

    def run(self) -> str | None:
        """Run the attempt to its end; returns the job's final status (None when the job is no longer ours)."""
        job, kind = self.job, self.kind
        log.info("job %s: %s attempt %s started", job.pk, job.kind, job.attempts)
        try:
            # Stored-file names in the parameters become paths the sandbox may read: in place on local storage,
            # else private copies this worker downloads (riskapp.jobs.inputs). Its outputs go back through storage.
            with job_inputs(
                job_id=job.pk,
                file_params=kind.file_params,
                parameters=job.parameters,
                private_dir=settings.JOB_SANDBOX_DIR,
                on_tick=self.on_tick,
            ) as (params, inputs):
                outcome = run_in_sandbox(
                    task=kind.engine_task,
                    params=params,
                    limits=sandbox_limits(),
                    on_progress=self.on_progress,
                    on_tick=self.on_tick,
                    on_start=self.on_start,
                    on_finish=self.on_finish,
                    base_dir=settings.JOB_SANDBOX_DIR,
                    isolate=sandbox_isolation(),
                    hide=[settings.DATA_DIR],
                    inputs=inputs,
                    tick_seconds=HEARTBEAT_EVERY_S,
                    warm=settings.JOB_SANDBOX_WARM,
                    preload=settings.JOB_SANDBOX_PRELOAD,
                    prepare=self.prepare if self.checkpoint else None,
                )
            self.started = "warm" if outcome.warm else "cold"
        except Exception as error:  # our own fault, not the task's: log it with context, fail the job
            log.exception("job %s: the worker failed while running it", job.pk)
            if isinstance(error, StoredInputError | StoredOutputError):
                message = str(error)
            else:
                message = f"Internal error in the worker: {error!r}"
            _reconnecting(job, "recording its failure", lambda: self._record_failure(message))
        log.info("job %s: attempt %s ended %s (%s sandbox)", job.pk, job.attempts, self.final_status, self.started)
        return self.final_status

    # --- what the sandbox launcher calls --------------------------------------------------------------------

    def prepare(self, workdir: Path) -> dict[str, str]:
        """The task's checkpoint folder, with the job's stored checkpoint copied in (a resumed attempt)."""
        folder = workdir / CHECKPOINT_FOLDER
        epoch = self.checkpoint.fetch_into(folder)
        if epoch:
            log.info("job %s: attempt %s resumes after epoch %d", self.job.pk, self.job.attempts, epoch)
        return {"checkpoint_dir": str(folder)}

    def on_progress(self, tick: ProgressTick) -> None:
        self.latest = tick  # sent with the next heartbeat

    def on_tick(self) -> str:
        """Record a heartbeat (with the latest progress); answers a sandbox Tick: continue, cancel or abandon."""
        job, tick = self.job, self.latest
        try:
            decision = _reconnecting(
                job,
                "a heartbeat",
                lambda: services.job_heartbeat(
                    job=job, progress=tick.percent if tick else None, message=tick.message if tick else None
                ),
            )
        except (OperationalError, InterfaceError) as error:
            # The database is still away: keep the task running and try again on the next tick. Should
            # the outage outlast the heartbeat timeout, the reconciler requeues the job and the next
            # heartbeat that gets through answers 'abandon'; the wall-clock limit still applies.
            log.warning("job %s: heartbeat not recorded, the database is unreachable (%s)", job.pk, error)
            connection.close()
            return "continue"
        if decision == Tick.CONTINUE and self.checkpoint:
            self.checkpoint.keep_latest()
        return decision

    def on_start(self, pid: int) -> None:
        _reconnecting(
            self.job, "recording the sandbox's pid", lambda: services.job_set_sandbox_pid(job=self.job, pid=pid)
        )

    def on_finish(self, outcome: SandboxOutcome) -> None:
        if outcome.status == "abandoned":
            log.warning("job %s: attempt %s abandoned, the job is no longer ours", self.job.pk, self.job.attempts)
            return
        if outcome.crashed and self.checkpoint:
            self.checkpoint.keep_latest()  # what the task wrote since the last heartbeat, for the next attempt
        _reconnecting(self.job, "recording its outcome", lambda: self._record(outcome))

    # --- recording ------------------------------------------------------------------------------------------

    def _record(self, outcome: SandboxOutcome) -> None:
        job = self.job
        error = outcome.error
        if outcome.log_tail:
            error = f"{error}\n\nLast lines of the task's log:\n{outcome.log_tail}"
        if outcome.crashed:  # worth another attempt, up to the cap
            with transaction.atomic():
                self.final_status = services.job_crashed(job=job, error=error)
                if self.final_status == JobStatus.FAILED:
                    self._kind_finished()
            return
        with transaction.atomic():
            result = outcome.result
            if outcome.status == "succeeded" and outcome.output_files:
                result = dict(result or {}, files=self._store_outputs(outcome.output_files, outcome.output_dir))
            if services.job_finish(job=job, status=outcome.status, result=result, error=error):
                self.final_status = outcome.status
                self._kind_finished()
            else:
                transaction.set_rollback(True)  # not ours any more: keep no files either

    def _record_failure(self, message: str) -> None:
        with transaction.atomic():
            if services.job_finish(job=self.job, status=JobStatus.FAILED, error=message):
                self.final_status = JobStatus.FAILED
                self._kind_finished()

    def _kind_finished(self) -> None:
        if self.kind.on_finish is not None:
            self.kind.on_finish(Job.objects.get(pk=self.job.pk))

    def _store_outputs(self, files: list[Path], root: Path) -> list[str]:
        stored = []
        for path in files[:MAX_OUTPUT_FILES]:
            size = path.stat().st_size
            if size > MAX_OUTPUT_FILE_BYTES:
                log.warning("job %s: output %s is %d bytes, over the limit; not kept", self.job.pk, path.name, size)
                continue
            name = path.relative_to(root).as_posix()[:200]
            try:
                stored_as = with_transfer_retries(functools.partial(self._upload, path), what=f"storing output {name}")
            except Exception as error:
                if not is_transient(error):
                    raise
                raise StoredOutputError(
                    f"The job's output {name} could not be stored in {TRANSFER_ATTEMPTS} tries ({error}). "
                    "The storage may be unreachable or overloaded: run the job again later."
                ) from error
            JobFile.objects.create(job=self.job, name=name, size=size, file=stored_as)
            stored.append(name)
        return stored

    def _upload(self, path: Path) -> str:
        """Store one output file; returns its name in storage. Uploaded before its row is written, so that a
        failed try leaves the recording transaction usable for the next."""
        field = JobFile._meta.get_field("file")
        # Stored under a server-made name; the task's own name is only a label.
        server_name = field.generate_filename(None, f"job{self.job.pk}-{uuid.uuid4().hex}{path.suffix[:10]}")
        with path.open("rb") as handle:
            return field.storage.save(server_name, File(handle), max_length=field.max_length)


def job_execute(*, job_id: int) -> str | None:
    """Claim the job, run it in the sandbox, record the outcome. Returns the final status, or None if not ours.
    Background work first gives way to a more urgent job waiting on its queue (services.job_to_run).

    (Celery's Django fix-up closes stale database connections before and after each task.)
    """
    chosen = services.job_to_run(job_id=job_id)
    job = services.job_claim(job_id=chosen)
    if job is None:
        return None
    return JobRun(job).run()
