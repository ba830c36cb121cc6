"""Scoped throttles for the expensive operations (uploads, new jobs), counted per user in the cache."""

from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle


class ScopedUserThrottle(UserRateThrottle):
    what = "requests"

    def get_rate(self) -> str:
        # Read at request time (not import time), so that a changed setting takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def message(self) -> str:
        count, period = self.get_rate().split("/")
        return f"Too many {self.what}: you may make {count} per {period}."


class UploadThrottle(ScopedUserThrottle):
    scope = "uploads"
    what = "uploads"


class JobCreateThrottle(ScopedUserThrottle):
    scope = "job_create"
    what = "new jobs"


class ThrottleMessageMixin:
    """A 429 that says which limit was hit; DRF adds when to try again and the Retry-After header."""

    def throttled(self, request, wait):
        messages = [throttle.message() for throttle in self.get_throttles() if isinstance(throttle, ScopedUserThrottle)]
        raise Throttled(wait=wait, detail=" ".join(messages) or None)
