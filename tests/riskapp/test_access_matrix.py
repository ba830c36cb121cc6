"""Who may open the routes outside a project and outside the API, and a check that every route of the whole
URL configuration has a rule somewhere: here, in tests/riskapp/projects/test_access.py (project pages) or in
tests/riskapp/api/test_access_matrix.py (the API). A new route without a rule fails
`test_every_route_in_the_url_configuration_has_an_access_rule`.
"""

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from riskapp.accounts import services as account_services
from tests.riskapp.api.test_access_matrix import RULES as API_RULES
from tests.riskapp.projects.test_access import RULES as PROJECT_RULES

WHO = ("anonymous", "outsider", "viewer", "assessor", "reviewer", "owner", "staff")
PUBLIC = "public"  # anyone, signed in or not
SIGNED_IN = "signed in"  # any signed-in user (their own data only)

# url name -> (method, who may, what a signed-in caller gets). Anonymous callers of SIGNED_IN routes are sent to
# sign in. Django admin (every `admin:` route) is for staff only and has its own test below.
RULES = {
    "home": ("GET", PUBLIC, 302),  # a redirect to the project list, which asks for sign-in
    "login": ("GET", PUBLIC, None),
    "logout": ("POST", PUBLIC, 302),
    "password_change": ("GET", SIGNED_IN, 200),
    "password_change_done": ("GET", SIGNED_IN, 200),
    "about_content": ("GET", PUBLIC, 200),
    "accounts:profile": ("GET", SIGNED_IN, 200),
    "accounts:token_revoke": ("POST", SIGNED_IN, 302),
    "projects:list": ("GET", SIGNED_IN, 200),
    "projects:create": ("GET", SIGNED_IN, 200),
    "dashboards:portfolio": ("GET", SIGNED_IN, 200),
}


def route_names(patterns=None, namespace=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from route_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield f"{namespace}{pattern.name}"


def unnamed_routes(patterns=None, namespace=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from unnamed_routes(pattern.url_patterns, f"{namespace}{pattern.namespace or ''}:")
        elif pattern.name is None:
            yield namespace, str(pattern.pattern)


def test_every_route_in_the_url_configuration_has_an_access_rule():
    names = set(route_names())
    ruled = set(RULES) | set(PROJECT_RULES) | set(API_RULES)
    assert sorted(name for name in names - ruled if not name.startswith("admin:")) == []
    assert sorted(ruled - names) == []  # no rule for a route that no longer exists


def test_every_route_outside_django_admin_is_named_so_that_it_can_have_a_rule():
    # Django admin's own unnamed routes (redirects to a model's change page, its catch-all) are staff-only.
    assert [route for namespace, route in unnamed_routes() if not namespace.startswith("admin:")] == []


@pytest.fixture
def token(team):
    created, _ = account_services.api_token_create(user=team.owner, name="ci")
    return created


def url_for(name, token):
    return reverse(name, kwargs={"token_id": token.pk} if name == "accounts:token_revoke" else None)


@pytest.mark.parametrize("name", sorted(RULES))
@pytest.mark.parametrize("who", WHO)
def test_route_access(name, who, team, token, client_for):
    method, allowed, status = RULES[name]
    client = client_for(None if who == "anonymous" else getattr(team, who))
    url = url_for(name, token)
    response = client.post(url) if method == "POST" else client.get(url)
    if name == "login":
        # A signed-in user is sent on to their projects.
        assert response.status_code == (200 if who == "anonymous" else 302)
    elif allowed == PUBLIC:
        assert response.status_code == status
    elif who == "anonymous":
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    elif name == "accounts:token_revoke" and who != "owner":
        # Another user's token: it does not exist for them.
        assert response.status_code == 404
    else:
        assert response.status_code == status


@pytest.mark.parametrize("name", sorted(name for name, (method, *_) in RULES.items() if method == "POST"))
def test_state_changing_routes_refuse_get(name, team, token, client_for):
    assert client_for(team.owner).get(url_for(name, token)).status_code == 405


def admin_pages():
    """Every admin page without an object in its URL: the index, each app, each model's list (and add form)."""
    yield reverse("admin:index")
    for model in admin.site._registry:
        meta = model._meta
        yield reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        yield reverse("admin:app_list", kwargs={"app_label": meta.app_label})


@pytest.mark.parametrize("who", WHO)
def test_django_admin_is_for_staff_only(who, team, client_for):
    client = client_for(None if who == "anonymous" else getattr(team, who))
    for url in sorted(set(admin_pages())):
        response = client.get(url)
        if who == "staff":
            assert response.status_code == 200, url
        else:
            assert response.status_code == 302 and response.url.startswith(reverse("admin:login")), url
