"""riskapp's web defences: response headers, cookie flags, CSRF on every state-changing request, sign-in rate
limiting and the append-only audit log. (The Content-Security-Policy in a real browser: tests/e2e/
test_security_browser.py; production settings and `check --deploy`: tests/riskapp/test_settings.py.)"""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from riskapp.audit.models import AuditEvent
from riskapp.audit.services import audit_record
from tests.conftest import PASSWORD
from tests.riskapp.projects.test_access import (
    POST_DATA,
    RULES,
    objects,  # noqa: F401 - the project's objects, for the URLs
    url_for,
)

# --- headers -------------------------------------------------------------------------------------------------


def policy(response) -> dict[str, list[str]]:
    directives = (part.split() for part in response["Content-Security-Policy"].split(";"))
    return {name: sources for name, *sources in directives}


@pytest.mark.parametrize(
    "url", ["/accounts/login/", "/projects/", "/api/v1/projects/", "/api/v1/docs/", "/admin/", "/about/content/"]
)
def test_every_kind_of_page_sends_the_security_headers(url, team, client_for):
    response = client_for(team.staff).get(url)
    assert response.status_code == (302 if url == "/accounts/login/" else 200)  # signed in: sent on
    csp = policy(response)
    assert csp["script-src"] == ["'self'"]  # no inline script, no eval, no other origin
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    assert csp["default-src"] == ["'self'"] and csp["form-action"] == ["'self'"] and csp["base-uri"] == ["'self'"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_swagger_ui_boots_from_a_script_file_not_an_inline_script(team, client_for):
    client = client_for(team.owner)
    page = client.get("/api/v1/docs/").content.decode()
    assert re.search(r"<script>", page) is None  # every <script> has a src
    scripts = re.findall(r'<script src="([^"]+)"', page)
    init = client.get(scripts[-1].replace("&amp;", "&"))
    assert init.status_code == 200 and init["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in init.content.decode()


def test_session_and_csrf_cookies_are_http_only_and_same_site(team):
    client = Client()
    client.get(reverse("login"))
    response = client.post(reverse("login"), {"username": "owner", "password": PASSWORD})
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"
    csrf = client.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"


# --- CSRF ----------------------------------------------------------------------------------------------------

OTHER_POSTS = {
    "logout": {},
    "password_change": {"old_password": PASSWORD, "new_password1": "a new long passphrase", "new_password2": "x"},
    "accounts:profile": {"name": "ci"},
    "projects:create": {"name": "Speech", "risk_appetite": "low"},
}


def csrf_client(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def page_token(client) -> str:
    """The token a page hands to its forms and to htmx (hx-headers on <body>)."""
    page = client.get(reverse("projects:list")).content.decode()
    return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


@pytest.mark.parametrize("name", sorted([*(n for n, (method, _) in RULES.items() if method == "POST"), *OTHER_POSTS]))
def test_every_state_changing_form_refuses_a_request_without_the_csrf_token(name, team, objects):  # noqa: F811
    client = csrf_client(team.owner)
    url = url_for(name, team, objects) if name in RULES else reverse(name)
    data = POST_DATA.get(name, OTHER_POSTS.get(name, {}))
    before = AuditEvent.objects.count()
    refused = client.post(url, data)
    assert refused.status_code == 403
    assert "CSRF" in refused.content.decode()
    assert AuditEvent.objects.count() == before  # nothing happened
    # The same request from the page, through htmx with the page's token, passes the CSRF check.
    accepted = client.post(url, data, headers={"HX-Request": "true", "X-CSRFToken": page_token(client)})
    assert accepted.status_code != 403


def test_the_api_refuses_a_session_authenticated_write_without_the_csrf_token(team):
    client = csrf_client(team.owner)
    body = {"name": "Speech", "risk_appetite": "low"}
    response = client.post("/api/v1/projects/create/", body, content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    accepted = client.post(
        "/api/v1/projects/create/", body, content_type="application/json", headers={"X-CSRFToken": page_token(client)}
    )
    assert accepted.status_code == 201


# --- sign-in rate limiting -----------------------------------------------------------------------------------


def sign_in(client, username, password, address="203.0.113.7", **headers):
    data = {"username": username, "password": password}
    return client.post(reverse("login"), data, REMOTE_ADDR=address, **headers)


def test_sign_in_is_paused_for_a_username_and_address_after_five_failures(team, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = sign_in(client, "owner", "wrong guess")
        assert response.status_code == 200 and "correct username and password" in response.content.decode()
    locked = sign_in(client, "owner", "wrong guess")
    assert locked.status_code == 429
    assert locked["Retry-After"] == str(15 * 60)
    text = locked.content.decode()
    assert "Too many failed sign-ins" in text and "for 15 minutes" in text and "axes_reset_username owner" in text
    # Paused even with the right password: a guesser learns nothing from here on.
    assert sign_in(client, "owner", PASSWORD).status_code == 429
    # The same user from another address, and another user from this address, are not affected.
    assert sign_in(Client(), "owner", PASSWORD, address="198.51.100.1").status_code == 302
    assert sign_in(Client(), "viewer", PASSWORD).status_code == 302


def test_the_pause_ends_after_the_cool_off_time(team, settings):
    from axes.models import AccessAttempt

    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(Client(), "owner", "wrong guess")
    assert sign_in(Client(), "owner", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert sign_in(Client(), "owner", PASSWORD).status_code == 302


def test_a_successful_sign_in_resets_the_count(team, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(Client(), "owner", "wrong guess")
    assert sign_in(Client(), "owner", PASSWORD).status_code == 302
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(Client(), "owner", "wrong guess").status_code == 200
    assert sign_in(Client(), "owner", PASSWORD).status_code == 302


def test_django_admin_sign_in_is_rate_limited_too(team, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("admin:login"), {"username": "staff", "password": "wrong guess"}, REMOTE_ADDR="192.0.2.9")
    response = client.post(reverse("admin:login"), {"username": "staff", "password": PASSWORD}, REMOTE_ADDR="192.0.2.9")
    assert response.status_code == 429


def test_behind_trusted_proxies_the_address_the_first_proxy_saw_is_counted(team, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(Client(), "owner", "wrong guess", proxy, HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    # A spoofed left-most entry does not make a new address; the proxy-written one is what counts.
    same = sign_in(Client(), "owner", PASSWORD, proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7")
    assert same.status_code == 429
    other = sign_in(Client(), "owner", PASSWORD, proxy, HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert other.status_code == 302


# --- the audit log is append-only ----------------------------------------------------------------------------


@pytest.fixture
def event(team):
    return audit_record(actor=team.owner, action="project.update", target=team.project, after={"name": "x"})


def test_audit_events_cannot_be_changed_or_deleted_through_the_orm(event):
    event.action = "nothing happened"
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(action="nothing happened")
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "project.update"


def test_a_user_with_audit_events_cannot_be_deleted_only_deactivated(event, team):
    with pytest.raises(ProtectedError):
        get_user_model().objects.filter(pk=team.owner.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).actor == team.owner


def test_django_admin_shows_audit_events_read_only(event, team, client_for):
    client = client_for(team.staff)
    change_url = reverse("admin:audit_auditevent_change", args=[event.pk])
    assert client.get(change_url).status_code == 200
    assert client.post(change_url, {"action": "nothing happened"}).status_code == 403
    delete_url = reverse("admin:audit_auditevent_delete", args=[event.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    changelist = reverse("admin:audit_auditevent_changelist")
    bulk = client.post(changelist, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})
    assert bulk.status_code in (200, 302)
    assert AuditEvent.objects.filter(pk=event.pk, action="project.update").exists()


def test_no_url_or_api_route_deletes_or_edits_audit_events():
    from tests.riskapp.test_access_matrix import route_names

    assert [name for name in route_names() if "audit" in name and not name.startswith("admin:")] == []


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_the_database_itself_refuses_to_change_or_delete_an_audit_event(team):
    if connection.vendor != "postgresql":
        pytest.skip("the database-level guard is PostgreSQL's (production); SQLite relies on the model's guards")
    event = audit_record(actor=team.owner, action="project.update", target=team.project, after={"name": "x"})
    for statement in (
        "UPDATE audit_auditevent SET action = 'nothing happened' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "project.update"
    # Appending still works.
    audit_record(actor=team.owner, action="project.update", target=team.project, after={"name": "y"})
    assert AuditEvent.objects.count() == 2
