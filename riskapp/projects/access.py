"""The view decorator that turns a project id in the URL into a checked ProjectAccess."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from riskapp.projects.roles import Capability
from riskapp.projects.selectors import project_access


def project_view(capability: Capability = Capability.VIEW):
    """Resolve `project_id` to the user's access (404 outsider, 403 missing role) and pass it on.

    Every 404 of a project page (not a member, or an object outside the project) is the plain 404 page, also
    with DEBUG on (`make run`): Django's debug 404 page would show an outsider the project's URL patterns."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, project_id: int, *args, **kwargs):
            try:
                access = project_access(user=request.user, project_id=project_id, capability=capability)
                return view(request, access, *args, **kwargs)
            except Http404:
                return render(request, "404.html", status=404)

        return wrapper

    return decorator
