from django.conf import settings
from django.db import models


class IntakeStatus(models.TextChoices):
    CHECKING = "checking", "Checking"
    READY = "ready", "Ready"
    REJECTED = "rejected", "Rejected"


class ModelRole(models.TextChoices):
    TEACHER = "teacher", "Teacher (pre-trained)"
    STUDENT = "student", "Student (fine-tuned)"
    OTHER = "other", "Other"


class DatasetPurpose(models.TextChoices):
    EVALUATION = "evaluation", "Evaluation (clean)"
    TRAINING = "training", "Training (for poisoned-data detection)"
    # Inputs that carry a backdoor trigger (STRIP's suspects; the demo's triggered test set): never clean data.
    TRIGGERED = "triggered", "Triggered inputs (carry a backdoor trigger)"


class Artifact(models.Model):
    """What every uploaded file has: where it is, what it is, and what the intake made of it."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    original_name = models.CharField(max_length=255, help_text="The uploaded file's name, cleaned; a label only.")
    file = models.FileField(upload_to="uploads/%Y/%m/", max_length=500)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    format = models.CharField(max_length=32, blank=True, help_text="Sniffed from the bytes by the intake scan.")
    status = models.CharField(max_length=16, choices=IntakeStatus.choices, default=IntakeStatus.CHECKING)
    status_message = models.TextField(blank=True)
    scan = models.JSONField(null=True, blank=True)
    intake = models.JSONField(null=True, blank=True)
    intake_job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]


class ModelArtifact(Artifact):
    """An uploaded model and its card."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="models")
    version = models.CharField(max_length=50, default="1")
    role = models.CharField(max_length=16, choices=ModelRole.choices, default=ModelRole.OTHER)
    architecture = models.CharField(max_length=100, blank=True, help_text="Catalogue entry; empty for ONNX.")
    num_classes = models.PositiveIntegerField(null=True, blank=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="students",
        help_text="The teacher this model was fine-tuned from, when it is in this project.",
    )
    previous_version = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next_versions"
    )
    teacher_name = models.CharField(max_length=200, blank=True, help_text="An external teacher's name.")
    teacher_url = models.URLField(blank=True, help_text="Where the external teacher was downloaded from.")
    teacher_sha256 = models.CharField(max_length=64, blank=True)
    teacher_licence = models.CharField(max_length=100, blank=True)
    input_shape = models.JSONField(null=True, blank=True)
    class_names = models.JSONField(default=list, blank=True)
    preprocessing = models.JSONField(
        default=dict, blank=True, help_text='e.g. {"scale": 255, "mean": [...], "std": [...]}'
    )
    input_min = models.FloatField(default=0.0)
    input_max = models.FloatField(default=1.0)
    weights = models.FileField(
        upload_to="weights/%Y/%m/",
        max_length=500,
        blank=True,
        help_text="The intake's safetensors conversion: what later jobs load.",
    )
    provenance = models.JSONField(
        default=dict, blank=True, help_text="How riskapp made this version (a hardening job's card); empty for uploads."
    )

    class Meta(Artifact.Meta):
        constraints = [models.UniqueConstraint(fields=["project", "sha256"], name="one_model_per_file_per_project")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def job_file(self) -> str:
        """The stored file later jobs load: the intake's safetensors, or the ONNX upload itself."""
        return self.weights.name or self.file.name

    def card_params(self, prefix: str = "") -> dict:
        """What an engine task needs from the card to load this model: architecture, classes, pre-processing."""
        params: dict = {}
        if self.architecture:
            params |= {f"{prefix}arch": self.architecture, f"{prefix}num_classes": self.num_classes}
        if self.preprocessing:
            params[f"{prefix}preprocessing"] = self.preprocessing
        return params


class DatasetArtifact(Artifact):
    """An uploaded .npz dataset: x (N×C×H×W or N×D floats) and y (labels), optionally a poison mask."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="datasets")
    purpose = models.CharField(max_length=16, choices=DatasetPurpose.choices, default=DatasetPurpose.EVALUATION)
    normalised = models.FileField(upload_to="datasets/%Y/%m/", max_length=500, blank=True)

    class Meta(Artifact.Meta):
        constraints = [models.UniqueConstraint(fields=["project", "sha256"], name="one_dataset_per_file_per_project")]

    def __str__(self) -> str:
        return self.name

    @property
    def job_file(self) -> str:
        """The stored file later jobs load: the intake's normalised .npz."""
        return self.normalised.name or self.file.name


class Finding(models.Model):
    """A security finding on a project: e.g. an upload with a malicious signature. Evidence for the register."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(max_length=64)
    title = models.CharField(max_length=300)
    detail = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title
