from django.conf import settings
from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    TIMED_OUT = "timed_out", "Timed out"


class JobPriority(models.IntegerChoices):
    """Which queued job of a queue a worker takes first. The demo's tests are background work: a user's
    job on the same queue runs before them (riskapp.jobs.execute), on either broker."""

    BACKGROUND = 0, "Background"
    NORMAL = 5, "Normal"


FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.TIMED_OUT)


class Job(models.Model):
    """One unit of background work. This row, not the broker, is the record of what must run."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=64)
    queue = models.CharField(max_length=64)
    parameters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    priority = models.PositiveSmallIntegerField(choices=JobPriority.choices, default=JobPriority.NORMAL)
    attempts = models.PositiveSmallIntegerField(default=0)
    progress = models.PositiveSmallIntegerField(default=0)
    progress_message = models.CharField(max_length=200, blank=True)
    cancel_requested = models.BooleanField(default=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="Host name of the worker that ran it last.")
    worker_pid = models.IntegerField(null=True, blank=True)
    sandbox_pid = models.IntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="job_project_recent"),
            models.Index(fields=["project", "kind", "-created_at"], name="job_project_kind_recent"),
            # The portfolio's "last tested" and the risk page's latest results: finished jobs per project.
            models.Index(fields=["project", "status", "-finished_at"], name="job_project_finished"),
            models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat"),
            # A worker's question before it runs background work: is a more urgent job waiting on this queue?
            models.Index(fields=["queue", "status", "priority"], name="job_queue_waiting"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="job_progress_at_most_100"),
        ]

    def __str__(self) -> str:
        return f"Job {self.pk} {self.kind} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def is_active(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class JobFile(models.Model):
    """A file a job wrote (an image, a table), kept through the storage API."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=200)
    file = models.FileField(upload_to="jobs/%Y/%m/", max_length=500)
    size = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["job", "name"], name="one_file_name_per_job")]

    def __str__(self) -> str:
        return self.name
