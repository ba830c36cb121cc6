"""Response headers that Django's SecurityMiddleware does not set."""

from django.conf import settings


def content_security_policy(directives: dict[str, tuple[str, ...]]) -> str:
    return "; ".join(" ".join((name, *sources)) for name, sources in directives.items())


class ContentSecurityPolicyMiddleware:
    """Adds settings.CONTENT_SECURITY_POLICY to every response that has none of its own."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.header = content_security_policy(settings.CONTENT_SECURITY_POLICY)

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.header)
        return response
