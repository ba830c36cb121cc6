from django.conf import settings
from django.db import models


class AssessmentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted for review"
    RETURNED = "returned", "Returned with comments"
    APPROVED = "approved", "Approved"


EDITABLE_STATUSES = (AssessmentStatus.DRAFT, AssessmentStatus.RETURNED)


class AssessmentVersion(models.Model):
    """One version of a project's threat-model assessment. An approved version never changes again."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="assessment_versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=AssessmentStatus.choices, default=AssessmentStatus.DRAFT)
    bank_version = models.PositiveIntegerField()
    # question id -> answer (option value, list of values, number, text or ISO date); missing = unanswered
    answers = models.JSONField(default=dict, blank=True)
    # The register as scored when the version was submitted or approved, for history and diffs.
    snapshot = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="one_assessment_version_number"),
        ]

    def __str__(self) -> str:
        return f"{self.project} assessment v{self.number} ({self.status})"

    @property
    def is_editable(self) -> bool:
        return self.status in EDITABLE_STATUSES


class Treatment(models.TextChoices):
    MITIGATE = "mitigate", "Mitigate"
    TRANSFER = "transfer", "Transfer"
    AVOID = "avoid", "Avoid"
    ACCEPT = "accept", "Accept"


class RiskTreatment(models.Model):
    """How the project treats one threat of its register. Acceptance has an owner, a rationale and an expiry."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="risk_treatments")
    threat_id = models.CharField(max_length=100)
    treatment = models.CharField(max_length=16, choices=Treatment.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rationale = models.TextField(blank=True)
    expires_on = models.DateField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "threat_id"], name="one_treatment_per_threat"),
            models.CheckConstraint(
                condition=~models.Q(treatment="accept")
                | (models.Q(owner__isnull=False, expires_on__isnull=False) & ~models.Q(rationale="")),
                name="acceptance_has_owner_rationale_expiry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.threat_id}: {self.treatment}"


class Evidence(models.Model):
    """A measured fact about the project (from a job or entered by hand) that re-scores threats."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="evidence")
    kind = models.CharField(max_length=64)  # an evidence kind of the question bank
    value = models.JSONField()
    source = models.CharField(max_length=200)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The model measured; empty for project-wide facts (e.g. how many uploads the intake scan rejected).
    model = models.ForeignKey(
        "artifacts.ModelArtifact", null=True, blank=True, on_delete=models.CASCADE, related_name="evidence"
    )
    # How it was measured ({attacks, steps, queries, samples, clean_accuracy, full_scan}): the evidence rules let a
    # measurement lower a risk only as far as its strength justifies; empty means unknown strength (lowers nothing).
    measurement = models.JSONField(default=dict, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["project", "kind", "-recorded_at"], name="evidence_latest")]

    def __str__(self) -> str:
        return f"{self.kind}={self.value}"
