from django.conf import settings
from django.db import models

from riskapp.bands import APPETITE_CHOICES, Band
from riskapp.projects.roles import Capability, Role, role_can


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    risk_appetite = models.CharField(
        max_length=16,
        choices=APPETITE_CHOICES,
        default=Band.MEDIUM,
        help_text="The highest risk band the project accepts without a reviewer's sign-off.",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"

    def can(self, capability: Capability) -> bool:
        return role_can(self.role, capability)
