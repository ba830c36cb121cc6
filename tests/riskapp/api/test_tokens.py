"""API tokens: created and revoked on the profile page, shown once, stored hashed, expiring, last use recorded."""

import hashlib
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from riskapp.accounts.models import ApiToken
from riskapp.accounts.services import api_token_create

pytestmark = pytest.mark.django_db

PROJECTS = "/api/v1/projects/"


def with_token(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def test_profile_page_is_linked_from_the_header_and_needs_sign_in(team, client_for):
    assert client_for(None).get(reverse("accounts:profile")).status_code == 302
    page = client_for(team.viewer).get(reverse("projects:list")).content.decode()
    assert f'href="{reverse("accounts:profile")}"' in page


def test_creating_a_token_shows_it_once_and_stores_only_its_hash(team, client_for):
    client = client_for(team.assessor)
    response = client.post(reverse("accounts:profile"), {"name": "CI pipeline"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    secret = response.context["secret"]
    assert len(secret) == 64 and secret in response.content.decode()
    token = ApiToken.objects.get(user=team.assessor, name="CI pipeline")
    assert token.auth_token.digest == hashlib.sha512(secret.encode()).hexdigest()
    assert not AuthToken.objects.filter(digest=secret).exists()
    again = client.get(reverse("accounts:profile")).content.decode()
    assert "CI pipeline" in again and secret not in again


def test_token_expires_after_the_configured_lifetime(team, settings):
    token, _ = api_token_create(user=team.viewer, name="ci")
    expected = timezone.now() + timedelta(days=settings.API_TOKEN_TTL_DAYS)
    assert abs((token.expires_at - expected).total_seconds()) < 60
    assert settings.API_TOKEN_TTL_DAYS == 90


def test_a_token_name_must_be_unique_per_user_with_a_clear_message(team, client_for):
    client = client_for(team.viewer)
    client.post(reverse("accounts:profile"), {"name": "laptop"})
    response = client.post(reverse("accounts:profile"), {"name": "laptop"})
    assert response.status_code == 400
    assert "You already have a token called “laptop”" in response.content.decode()
    assert ApiToken.objects.filter(user=team.viewer).count() == 1


def test_profile_lists_tokens_with_created_expiry_and_last_use(team, client_for):
    token, secret = api_token_create(user=team.viewer, name="nightly export")
    with_token(secret).get(PROJECTS)
    token.refresh_from_db()
    page = client_for(team.viewer).get(reverse("accounts:profile")).content.decode()
    assert "nightly export" in page
    assert token.created_at.strftime("%Y-%m-%d") in page and token.expires_at.strftime("%Y-%m-%d %H:%M") in page
    assert token.last_used_at.strftime("%Y-%m-%d %H:%M") in page


def test_a_token_authenticates_api_requests_as_its_user(team):
    _, secret = api_token_create(user=team.viewer, name="ci")
    response = with_token(secret).get(PROJECTS)
    assert response.status_code == 200
    assert [p["name"] for p in response.json()["results"]] == ["Traffic signs"]


def test_a_wrong_token_is_refused_with_401(team):
    response = with_token("0" * 64).get(PROJECTS)
    assert response.status_code == 401 and response.json() == {"detail": "Invalid token."}


def test_an_expired_token_is_refused_with_401_and_deleted(team):
    token, secret = api_token_create(user=team.viewer, name="ci")
    AuthToken.objects.filter(pk=token.auth_token.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    response = with_token(secret).get(PROJECTS)
    assert response.status_code == 401
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_a_revoked_token_is_refused_with_401(team, client_for):
    token, secret = api_token_create(user=team.viewer, name="ci")
    assert with_token(secret).get(PROJECTS).status_code == 200
    response = client_for(team.viewer).post(reverse("accounts:token_revoke", args=[token.pk]), follow=True)
    assert "Token “ci” revoked" in response.content.decode()
    assert with_token(secret).get(PROJECTS).status_code == 401
    assert not AuthToken.objects.filter(user=team.viewer).exists()


def test_nobody_can_revoke_someone_elses_token(team, client_for):
    token, secret = api_token_create(user=team.viewer, name="ci")
    response = client_for(team.owner).post(reverse("accounts:token_revoke", args=[token.pk]))
    assert response.status_code == 404
    assert with_token(secret).get(PROJECTS).status_code == 200


def test_revoking_needs_post(team, client_for):
    token, _ = api_token_create(user=team.viewer, name="ci")
    assert client_for(team.viewer).get(reverse("accounts:token_revoke", args=[token.pk])).status_code == 405


def test_last_use_is_recorded_at_most_once_a_minute(team):
    token, secret = api_token_create(user=team.viewer, name="ci")
    assert token.last_used_at is None
    client = with_token(secret)
    client.get(PROJECTS)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=10)
    client.get(PROJECTS)
    token.refresh_from_db()
    assert token.last_used_at == first  # not written again within the minute
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get(PROJECTS)
    token.refresh_from_db()
    assert token.last_used_at > first


def test_the_browser_session_works_on_the_api_but_needs_csrf_for_changes(team):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(team.owner)
    assert browser.get(PROJECTS).status_code == 200
    refused = browser.post("/api/v1/projects/create/", {"name": "X", "risk_appetite": "low"}, "application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    page = browser.get(reverse("accounts:profile"))
    csrf = page.cookies["csrftoken"].value
    accepted = browser.post(
        "/api/v1/projects/create/",
        {"name": "X", "risk_appetite": "low"},
        "application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert accepted.status_code == 201


def test_a_token_needs_no_csrf_token(team):
    _, secret = api_token_create(user=team.owner, name="ci")
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    response = client.post("/api/v1/projects/create/", {"name": "X", "risk_appetite": "low"}, format="json")
    assert response.status_code == 201


def test_creating_and_revoking_tokens_are_audited(team, client_for):
    from riskapp.audit.models import AuditEvent

    client = client_for(team.viewer)
    client.post(reverse("accounts:profile"), {"name": "ci"})
    token = ApiToken.objects.get(user=team.viewer)
    client.post(reverse("accounts:token_revoke", args=[token.pk]))
    actions = list(AuditEvent.objects.filter(actor=team.viewer).values_list("action", flat=True))
    assert "api_token.created" in actions and "api_token.revoked" in actions


def test_staff_see_tokens_in_django_admin_and_deleting_one_revokes_it(team, client_for):
    token, secret = api_token_create(user=team.viewer, name="forgotten laptop")
    admin = client_for(team.staff)
    listing = admin.get(reverse("admin:accounts_apitoken_changelist")).content.decode()
    assert "forgotten laptop" in listing and secret not in listing
    response = admin.post(reverse("admin:accounts_apitoken_delete", args=[token.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert with_token(secret).get(PROJECTS).status_code == 401
