"""The view decorator that turns a project id in the URL into a checked ProjectAccess."""

from functools import wraps

from django.contrib.auth.decorators import login_required

from riskapp.projects.roles import Capability
from riskapp.projects.selectors import project_access


def project_view(capability: Capability = Capability.VIEW):
    """Resolve `project_id` to the user's access (404 outsider, 403 missing role) and pass it on."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, project_id: int, *args, **kwargs):
            access = project_access(user=request.user, project_id=project_id, capability=capability)
            return view(request, access, *args, **kwargs)

        return wrapper

    return decorator
