"""Every write to a Job: create, claim, heartbeat, finish, cancel and reconcile.

Each state change is a conditional UPDATE on (status, attempts), so that two deliveries
of one message, a reconciler and a user's cancel can race without a job finishing twice.
"""

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from riskapp.audit.services import audit_record
from riskapp.jobs.kinds import KINDS, get_kind
from riskapp.jobs.models import Job, JobPriority, JobStatus
from riskapp.jobs.routing import job_queue
from riskapp.projects.models import Project

log = logging.getLogger(__name__)

RUN_JOB_TASK = "riskapp.jobs.tasks.run_job"


def job_send(*, job_id: int, queue: str) -> None:
    """Put a message for the job on its queue. The message carries the id, nothing else."""
    current_app.send_task(RUN_JOB_TASK, args=[job_id], queue=queue)


def _enqueue_on_commit(job: Job) -> None:
    job_id, queue = job.pk, job.queue
    transaction.on_commit(lambda: job_send(job_id=job_id, queue=queue))


@transaction.atomic
def job_create(*, user: AbstractBaseUser | None, project: Project, kind: str, parameters: dict[str, Any]) -> Job:
    """Validate the parameters for the kind, record the job, and enqueue it once the row is committed."""
    job_kind = get_kind(kind)
    cleaned = job_kind.clean_parameters(parameters)
    job = Job.objects.create(
        project=project,
        kind=job_kind.name,
        queue=job_queue(job_kind, cleaned),
        parameters=cleaned,
        created_by=user,
        enqueued_at=timezone.now(),
    )
    audit_record(
        actor=user,
        action="job.created",
        target=job,
        project_id=project.pk,
        after={"kind": job.kind, "parameters": cleaned},
    )
    _enqueue_on_commit(job)
    return job


def jobs_to_background(*, jobs: list[Job]) -> int:
    """Make queued jobs background work (the demo's tests): a user's job on the same queue runs before them.

    Call it in the transaction that created them, before their messages are sent. Returns how many changed."""
    return Job.objects.filter(pk__in=[job.pk for job in jobs], status=JobStatus.QUEUED).update(
        priority=JobPriority.BACKGROUND
    )


def job_to_run(*, job_id: int) -> int:
    """Which job a delivery of `job_id`'s message runs: that job, unless it is queued background work while a
    more urgent job waits on the same queue. Then the urgent one runs now, and `job_id` goes to the back of
    its queue with a fresh message.

    The order lives in the database, not in the broker: the filesystem broker has no message priorities, and
    this way a user's job overtakes the demo's on it and on Redis alike, whatever the order of the messages."""
    job = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).only("pk", "queue", "priority").first()
    if job is None or job.priority >= JobPriority.NORMAL:
        return job_id
    urgent = (
        Job.objects.filter(queue=job.queue, status=JobStatus.QUEUED, priority__gt=job.priority)
        .order_by("-priority", "enqueued_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    if urgent is None:
        return job_id
    # A fresh enqueued_at says its message was just sent, as the reconciler's does.
    if Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(enqueued_at=timezone.now()):
        job_send(job_id=job.pk, queue=job.queue)
    log.info("job %s: background work, job %s of higher priority runs first", job.pk, urgent)
    return urgent


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def job_worker_lost(job: Job, *, now: datetime | None = None) -> str | None:
    """Why the worker that last claimed a running job is presumed gone, or None while it is not.

    On the same host we can see that its process died; elsewhere, its heartbeat has stopped.
    """
    now = now or timezone.now()
    same_host = job.worker == socket.gethostname() and job.worker_pid
    if same_host and job.worker_pid == os.getpid():
        return f"its worker process ({job.worker}, pid {job.worker_pid}) is this one, which is no longer running it."
    if same_host and not _pid_alive(job.worker_pid):
        return f"its worker process ({job.worker}, pid {job.worker_pid}) is gone."
    stale_before = now - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)
    if job.heartbeat_at is None:
        return f"its worker ({job.worker}, pid {job.worker_pid}) never sent a heartbeat."
    if job.heartbeat_at < stale_before:
        return (
            f"its worker ({job.worker}, pid {job.worker_pid}) sent no heartbeat since {job.heartbeat_at.isoformat()}."
        )
    return None


def _attempts_exhausted_error(attempts: int) -> str:
    return (
        f"Stopped after {attempts} attempt(s): the worker running this job was lost each time "
        "(killed, out of memory, or its machine stopped). Try a smaller batch size or sample, "
        "or ask an administrator to check the worker logs."
    )


def _finish(
    job: Job,
    *,
    from_status: str,
    status: str,
    error: str = "",
    result: dict | None = None,
    actor: AbstractBaseUser | None = None,
) -> bool:
    now = timezone.now()
    fields: dict[str, Any] = {"status": status, "finished_at": now, "error": error, "heartbeat_at": now}
    if result is not None:
        fields["result"] = result
    if status == JobStatus.SUCCEEDED:
        fields["progress"], fields["progress_message"] = 100, "Done"
    updated = Job.objects.filter(pk=job.pk, status=from_status, attempts=job.attempts).update(**fields)
    if updated:
        _discard_stored_checkpoint(job)
        audit_record(
            actor=actor,
            action=f"job.{status}",
            target=job,
            project_id=job.project_id,
            before={"status": from_status},
            after={"status": status, "attempts": job.attempts, "error": error[:500]},
        )
    return bool(updated)


def _discard_stored_checkpoint(job: Job) -> None:
    """The job has ended, however it ended (its worker, the reconciler, the attempts cap or a user's cancel): once
    the transaction commits, its stored checkpoint, if its kind keeps one, is deleted (riskapp.jobs.checkpoints)."""
    if getattr(KINDS.get(job.kind), "checkpoints", False):
        from riskapp.jobs.checkpoints import StoredCheckpoint  # storage I/O, loaded only by kinds that checkpoint

        transaction.on_commit(StoredCheckpoint(job_id=job.pk).discard)


def _requeue(job: Job, *, now, message: str, before: dict, **still) -> bool:
    """Put a running attempt's job back in the queue (if that attempt is still the job's) and send it again."""
    requeued = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts, **still).update(
        status=JobStatus.QUEUED, enqueued_at=now, worker_pid=None, sandbox_pid=None, progress_message=message[:200]
    )
    if requeued:
        audit_record(
            actor=None,
            action="job.requeued",
            target=job,
            project_id=job.project_id,
            before=before,
            after={"status": JobStatus.QUEUED, "reason": message[:500]},
        )
        _enqueue_on_commit(job)
    return bool(requeued)


def job_crashed(*, job: Job, error: str) -> str | None:
    """An attempt whose sandbox died without reporting: run it again, or fail it at the attempts cap.

    Returns the job's new status, or None if the attempt is no longer the job's.
    """
    if job.attempts < settings.JOB_MAX_ATTEMPTS:
        message = f"Requeued after attempt {job.attempts} of {settings.JOB_MAX_ATTEMPTS}: {error}"
        before = {"status": JobStatus.RUNNING, "attempts": job.attempts}
        return JobStatus.QUEUED if _requeue(job, now=timezone.now(), message=message, before=before) else None
    error = (
        f"{error} It crashed on each of its {job.attempts} attempts. A model or batch too large for the "
        "worker's memory is the usual cause: try a smaller batch size or sample, or ask an administrator "
        "to check the worker logs."
    )
    failed = _finish(job, from_status=JobStatus.RUNNING, status=JobStatus.FAILED, error=error)
    return JobStatus.FAILED if failed else None


def job_claim(*, job_id: int, worker: str | None = None, worker_pid: int | None = None) -> Job | None:
    """Move the job to running for this worker process, or return None if it is not ours to run.

    A queued job is claimed; a running job is claimed again only when its worker is lost
    (a redelivered message after a crash). Over the attempts cap the job fails instead.
    """
    worker = worker or socket.gethostname()
    worker_pid = worker_pid or os.getpid()
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        log.warning("job %s: no such job, message dropped", job_id)
        return None
    lost = job_worker_lost(job) if job.status == JobStatus.RUNNING else None
    if job.status == JobStatus.RUNNING and not lost:
        log.info("job %s: already running on %s pid %s, duplicate delivery dropped", job_id, job.worker, job.worker_pid)
        return None
    if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        log.info("job %s: already %s, delivery dropped", job_id, job.status)
        return None
    if job.status == JobStatus.RUNNING and job.cancel_requested:
        with transaction.atomic():
            _finish(
                job,
                from_status=JobStatus.RUNNING,
                status=JobStatus.CANCELLED,
                error="Cancelled; its worker was lost before it stopped.",
            )
        return None
    if job.attempts >= settings.JOB_MAX_ATTEMPTS:
        with transaction.atomic():
            _finish(job, from_status=job.status, status=JobStatus.FAILED, error=_attempts_exhausted_error(job.attempts))
        return None
    now = timezone.now()
    with transaction.atomic():
        claimed = Job.objects.filter(pk=job_id, status=job.status, attempts=job.attempts).update(
            status=JobStatus.RUNNING,
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            worker=worker,
            worker_pid=worker_pid,
            sandbox_pid=None,
            error="",
        )
        if not claimed:
            log.info("job %s: claimed by someone else first", job_id)
            return None
        if lost:
            # The lost attempt ends here, taken over by the redelivered message: without this event the
            # audit trail would not show that it ever ran (the reconciler's requeue records the same).
            audit_record(
                actor=None,
                action="job.requeued",
                target=job,
                project_id=job.project_id,
                before={
                    "status": JobStatus.RUNNING,
                    "attempts": job.attempts,
                    "worker": job.worker,
                    "worker_pid": job.worker_pid,
                },
                after={
                    "status": JobStatus.RUNNING,
                    "attempts": job.attempts + 1,
                    "worker": worker,
                    "reason": f"Attempt {job.attempts} was lost: {lost} Running it again."[:500],
                },
            )
    job.refresh_from_db()
    return job


def job_set_sandbox_pid(*, job: Job, pid: int) -> None:
    Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts).update(sandbox_pid=pid)


def job_heartbeat(*, job: Job, progress: float | None = None, message: str | None = None) -> str:
    """Record liveness and progress. Answers 'continue', 'cancel' or 'abandon' (the job is no longer ours)."""
    fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if progress is not None:
        fields["progress"] = max(0, min(100, int(progress)))
    if message is not None:
        fields["progress_message"] = message[:200]
    mine = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts)
    if not mine.update(**fields):
        return "abandon"
    return "cancel" if mine.filter(cancel_requested=True).exists() else "continue"


@transaction.atomic
def job_finish(*, job: Job, status: str, result: dict | None = None, error: str = "") -> bool:
    """Record how this attempt ended; False when the job was no longer ours (nothing written)."""
    return _finish(job, from_status=JobStatus.RUNNING, status=status, result=result, error=error)


@transaction.atomic
def job_cancel(*, actor: AbstractBaseUser, job: Job) -> Job:
    """Cancel a queued job at once; ask a running one to stop (the worker ends it)."""
    now = timezone.now()
    if Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, cancel_requested=True, finished_at=now, error="Cancelled before it started."
    ):
        _discard_stored_checkpoint(job)  # a re-queued attempt may have left one
        audit_record(
            actor=actor,
            action="job.cancelled",
            target=job,
            project_id=job.project_id,
            before={"status": JobStatus.QUEUED},
            after={"status": JobStatus.CANCELLED},
        )
    elif Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(cancel_requested=True):
        audit_record(
            actor=actor,
            action="job.cancel_requested",
            target=job,
            project_id=job.project_id,
            before={"status": JobStatus.RUNNING},
            after={"cancel_requested": True},
        )
    else:
        raise ValidationError("This job has already finished; there is nothing to cancel.")
    job.refresh_from_db()
    return job


@dataclass
class ReconcileReport:
    requeued_lost_messages: int = 0
    requeued_stalled: int = 0
    failed_at_cap: int = 0
    cancelled: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def jobs_reconcile(*, now: datetime | None = None, limit: int = 500) -> ReconcileReport:
    """Find work the broker lost: queued jobs nobody claimed, running jobs whose heartbeat stopped."""
    now = now or timezone.now()
    report = ReconcileReport()
    unclaimed_before = now - timedelta(seconds=settings.JOB_REQUEUE_AFTER)
    for job in Job.objects.filter(status=JobStatus.QUEUED, enqueued_at__lt=unclaimed_before)[:limit]:
        with transaction.atomic():
            if Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED, enqueued_at=job.enqueued_at).update(
                enqueued_at=now
            ):
                _enqueue_on_commit(job)
                report.requeued_lost_messages += 1

    stalled_before = now - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)
    for job in Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=stalled_before)[:limit]:
        with transaction.atomic():
            if job.cancel_requested:
                report.cancelled += _finish(
                    job,
                    from_status=JobStatus.RUNNING,
                    status=JobStatus.CANCELLED,
                    error="Cancelled; its worker stopped responding before it stopped.",
                )
            elif job.attempts >= settings.JOB_MAX_ATTEMPTS:
                report.failed_at_cap += _finish(
                    job,
                    from_status=JobStatus.RUNNING,
                    status=JobStatus.FAILED,
                    error=_attempts_exhausted_error(job.attempts),
                )
            elif _requeue(
                job,
                now=now,
                message="Requeued: its worker stopped sending heartbeats.",
                before={"status": JobStatus.RUNNING, "heartbeat_at": job.heartbeat_at.isoformat()},
                heartbeat_at=job.heartbeat_at,
            ):
                report.requeued_stalled += 1
    if any(report.as_dict().values()):
        log.warning("reconciler: %s", report.as_dict())
    return report
