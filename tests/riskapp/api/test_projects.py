"""Projects and members over the API: the same services as the HTML pages, scoped by membership."""

import pytest

from riskapp.audit.models import AuditEvent
from riskapp.projects.models import Membership, Project
from riskapp.projects.services import project_create

pytestmark = pytest.mark.django_db


def test_project_list_shows_only_the_users_projects_with_their_role(team, api_for):
    project_create(user=team.outsider, name="Secret project", risk_appetite="low")
    response = api_for(team.reviewer).get("/api/v1/projects/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1 and body["next"] is None
    assert [(p["name"], p["role"]) for p in body["results"]] == [("Traffic signs", "reviewer")]


def test_project_list_is_paginated(team, api_for):
    for number in range(3):
        project_create(user=team.viewer, name=f"Project {number}", risk_appetite="low")
    body = api_for(team.viewer).get("/api/v1/projects/?page_size=2").json()
    assert body["count"] == 4 and len(body["results"]) == 2 and "page=2" in body["next"]
    second = api_for(team.viewer).get(body["next"]).json()
    assert len(second["results"]) == 2 and second["next"] is None


def test_creating_a_project_makes_the_caller_its_owner(team, api_for):
    response = api_for(team.viewer).post(
        "/api/v1/projects/create/", {"name": "Speech", "description": "ASR", "risk_appetite": "low"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["role"] == "owner" and response.json()["name"] == "Speech"
    project = Project.objects.get(pk=response.json()["id"])
    assert project.memberships.get().user == team.viewer
    assert AuditEvent.objects.filter(action="project.created", project_id=project.pk).exists()


def test_owner_updates_project_settings(team, api_for):
    response = api_for(team.owner).post(
        f"/api/v1/projects/{team.project.pk}/update/",
        {"name": "Road signs", "risk_appetite": "high"},
        format="json",
    )
    assert response.status_code == 200
    team.project.refresh_from_db()
    assert (team.project.name, team.project.risk_appetite) == ("Road signs", "high")


def test_members_are_listed_added_changed_and_removed_by_the_owner(team, api_for):
    api = api_for(team.owner)
    base = f"/api/v1/projects/{team.project.pk}/members/"
    assert [m["username"] for m in api.get(base).json()["results"]] == [
        "assessor",
        "owner",
        "reviewer",
        "viewer",
    ]
    added = api.post(f"{base}add/", {"username": "outsider", "role": "viewer"}, format="json")
    assert added.status_code == 201 and added.json()["role"] == "viewer"
    membership_id = added.json()["id"]
    changed = api.post(f"{base}{membership_id}/role/", {"role": "assessor"}, format="json")
    assert changed.status_code == 200 and changed.json() == {**added.json(), "role": "assessor"}
    assert api.post(f"{base}{membership_id}/remove/").status_code == 204
    assert not Membership.objects.filter(project=team.project, user=team.outsider).exists()


def test_unknown_project_is_404(team, api_for):
    assert api_for(team.owner).get("/api/v1/projects/999999/").status_code == 404
