"""Every write to API tokens: create (the secret is returned once), revoke, and record use."""

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import knox_settings

from riskapp.accounts.models import ApiToken
from riskapp.audit.services import audit_record

# Recording every request's use would write on every API call; once a minute is enough to see activity.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@transaction.atomic
def api_token_create(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """Create a named token that expires after REST_KNOX's TOKEN_TTL. Returns the token row and its secret,
    which is never stored (only its SHA-512 digest is) and cannot be shown again."""
    name = name.strip()
    if not name:
        raise ValidationError("Give the token a name, e.g. the CI pipeline that will use it.")
    if ApiToken.objects.filter(user=user, name=name).exists():
        raise ValidationError(f"You already have a token called “{name}”: choose another name, or revoke it first.")
    auth_token, secret = AuthToken.objects.create(user=user, expiry=knox_settings.TOKEN_TTL)
    token = ApiToken.objects.create(auth_token=auth_token, user=user, name=name)
    audit_record(
        actor=user,
        action="api_token.created",
        target=token,
        after={"name": name, "expires_at": auth_token.expiry.isoformat() if auth_token.expiry else None},
    )
    return token, secret


@transaction.atomic
def api_token_revoke(*, user: AbstractBaseUser, token: ApiToken) -> None:
    """Revoke one of the user's tokens: requests that present it are refused from now on."""
    if token.user_id != user.pk:
        raise ValidationError("You can only revoke your own tokens.")
    audit_record(actor=user, action="api_token.revoked", target=token, before={"name": token.name})
    token.auth_token.delete()  # cascades to the ApiToken row


def api_token_touch(*, auth_token: AuthToken, now: datetime | None = None) -> None:
    """Record that the token was just used, at most once per LAST_USED_RESOLUTION (a conditional UPDATE)."""
    now = now or timezone.now()
    ApiToken.objects.filter(auth_token=auth_token).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
