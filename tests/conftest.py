"""Shared fixtures: a project with one member per role, an outsider, staff, and captured enqueues."""

import pytest
from django.contrib.auth import get_user_model

from riskapp.projects.models import Membership, Project
from riskapp.projects.roles import Role

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def sent_jobs(request, monkeypatch):
    """Messages the code under test put on the broker, as (job_id, queue); nothing leaves the test.

    Tests marked `services` talk to a real broker and worker instead.
    """
    sent: list[tuple[int, str]] = []
    if request.node.get_closest_marker("services") is None:
        monkeypatch.setattr("riskapp.jobs.services.job_send", lambda *, job_id, queue: sent.append((job_id, queue)))
    return sent


def make_user(username: str, **extra):
    return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)


@pytest.fixture
def team(db):
    """A project 'Traffic signs' with an owner, an assessor, a reviewer and a viewer; an outsider; staff."""
    users = {name: make_user(name) for name in ("owner", "assessor", "reviewer", "viewer", "outsider")}
    users["staff"] = make_user("staff", is_staff=True, is_superuser=True)
    project = Project.objects.create(name="Traffic signs", risk_appetite="medium", created_by=users["owner"])
    for role in (Role.OWNER, Role.ASSESSOR, Role.REVIEWER, Role.VIEWER):
        Membership.objects.create(project=project, user=users[role.value], role=role)
    return type("Team", (), {"project": project, **users})


@pytest.fixture
def client_for(client):
    """client_for(user) -> a test client signed in as that user (None: anonymous)."""

    def sign_in(user):
        client.logout()
        if user is not None:
            client.force_login(user)
        return client

    return sign_in


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
