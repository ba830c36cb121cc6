from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from knox.settings import knox_settings

from riskapp.accounts import services
from riskapp.accounts.forms import ApiTokenForm
from riskapp.accounts.selectors import api_token_for_user, api_tokens_for_user


def _profile(request, form, *, created=None, secret=None, status=200):
    return render(
        request,
        "accounts/profile.html",
        {
            "form": form,
            "tokens": api_tokens_for_user(user=request.user),
            "created": created,
            "secret": secret,
            "ttl_days": knox_settings.TOKEN_TTL.days if knox_settings.TOKEN_TTL else None,
        },
        status=status,
    )


@login_required
def profile(request):
    """The user's profile: API tokens with their expiry and last use; create (shown once) and revoke."""
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = services.api_token_create(user=request.user, name=form.cleaned_data["name"])
        except ValidationError as error:
            form.add_error("name", error)
        else:
            # Rendered, not redirected: the secret must never be kept in a session or message store.
            response = _profile(request, ApiTokenForm(), created=token, secret=secret)
            response["Cache-Control"] = "no-store"
            return response
    return _profile(request, form, status=400 if form.errors else 200)


@login_required
@require_POST
def token_revoke(request, token_id: int):
    token = api_token_for_user(user=request.user, token_id=token_id)
    services.api_token_revoke(user=request.user, token=token)
    messages.success(request, f"Token “{token.name}” revoked: requests that present it are refused from now on.")
    return redirect("accounts:profile")
