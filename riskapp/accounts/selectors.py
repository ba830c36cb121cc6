from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from riskapp.accounts.models import ApiToken


def api_tokens_for_user(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).select_related("auth_token").order_by("-created_at", "-id")


def api_token_for_user(*, user: AbstractBaseUser, token_id: int) -> ApiToken:
    """One of the user's own tokens; anybody else's answers 404."""
    return get_object_or_404(api_tokens_for_user(user=user), pk=token_id)
