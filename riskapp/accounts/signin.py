"""Sign-in rate limiting (django-axes): the address it counts failures against, the page a paused sign-in gets."""

from django.conf import settings
from django.shortcuts import render


def client_address(request) -> str:
    """The connection's address, or, behind TRUSTED_PROXY_COUNT proxies, the address the first one saw.

    Each trusted proxy appends the address it received the request from to X-Forwarded-For, so the
    entry TRUSTED_PROXY_COUNT places from the right is the client's; entries left of it were written
    by the client and are not trusted.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if proxies and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def lockout_response(request, response, credentials):
    """The page a paused username and address get instead of signing in (HTTP 429)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {
        "username": (credentials or {}).get("username") or request.POST.get("username", ""),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "minutes": minutes,
    }
    locked = render(request, "registration/locked_out.html", context, status=429)
    locked["Retry-After"] = str(minutes * 60)
    return locked
