from django.conf import settings
from django.db import models
from django.utils import timezone
from knox.models import AuthToken


class ApiToken(models.Model):
    """A user's named API token: knox keeps the hashed secret and its expiry, this row what the user sees.

    Revoking deletes knox's row, and this one with it; so does knox when an expired token is next presented.
    """

    auth_token = models.OneToOneField(AuthToken, on_delete=models.CASCADE, related_name="details")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="one_api_token_name_per_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"

    @property
    def expires_at(self):
        return self.auth_token.expiry

    @property
    def is_expired(self) -> bool:
        return self.auth_token.expiry is not None and self.auth_token.expiry <= timezone.now()
