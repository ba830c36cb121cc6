"""Membership changes that race: the "a project keeps at least one owner" rule holds when two owners act at once.

These tests run two database sessions side by side, so they need PostgreSQL (SQLite lets one writer in at a
time and cannot show the race). On SQLite they skip, unless RISKAPP_REQUIRE_SERVICES=1 (as in CI), where
they fail instead.
"""

import contextlib
import os
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from riskapp.projects import services
from riskapp.projects.models import Membership
from riskapp.projects.roles import Role

pytestmark = pytest.mark.django_db(transaction=True)

# How long a session that has made its change waits for the other to make its own before committing. With the
# rule enforced the other session is blocked on a row lock meanwhile, so the wait runs out and the first commits.
HOLD_S = 2
JOIN_S = 30


def require_postgresql():
    if connection.vendor == "postgresql":
        return
    if os.environ.get("RISKAPP_REQUIRE_SERVICES") == "1":
        pytest.fail("PostgreSQL is required (RISKAPP_REQUIRE_SERVICES=1), but the test database is SQLite")
    pytest.skip("two concurrent writers need PostgreSQL; the test database is SQLite")


def demote(actor, membership):
    services.membership_set_role(actor=actor, membership=membership, role=Role.ASSESSOR)


def remove(actor, membership):
    services.membership_remove(actor=actor, membership=membership)


def race(*changes):
    """Run each (change, actor, membership) in its own thread and database session, all starting together.

    Each change runs in a transaction that stays open until every change has been made (or HOLD_S has
    passed), so that no session can see another's change before making its own: the worst interleaving,
    every time. Returns each change's outcome: None, or the ValidationError it raised."""
    start = threading.Barrier(len(changes))
    made = threading.Barrier(len(changes))
    outcomes: list[object] = [None] * len(changes)

    def run(index, change, actor, membership):
        try:
            with transaction.atomic():
                start.wait(timeout=JOIN_S)
                change(actor, membership)
                # A broken barrier: the other session is waiting for our locks, so commit and let it go on.
                with contextlib.suppress(threading.BrokenBarrierError):
                    made.wait(timeout=HOLD_S)
        except Exception as error:  # a refusal, or anything else: reported by the test, not lost in the thread
            outcomes[index] = error
        finally:
            connection.close()  # this thread's own session

    threads = [threading.Thread(target=run, args=(index, *change)) for index, change in enumerate(changes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_S)
    assert not any(thread.is_alive() for thread in threads), "a session is still waiting"
    return outcomes


@pytest.fixture
def two_owners(team):
    """The team's project with a second owner: the assessor, promoted."""
    services.membership_set_role(
        actor=team.owner, membership=team.project.memberships.get(user=team.assessor), role=Role.OWNER
    )
    return team.project.memberships.get(user=team.owner), team.project.memberships.get(user=team.assessor)


@pytest.mark.parametrize(
    ("first", "second"),
    [(demote, demote), (remove, remove), (demote, remove)],
    ids=["both demote", "both remove", "one demotes, one removes"],
)
def test_two_owners_acting_on_each_other_at_once_leave_the_project_one_owner(team, two_owners, first, second):
    require_postgresql()
    owner, other_owner = two_owners
    # Each owner takes the other's ownership away, at the same moment.
    outcomes = race((first, team.owner, other_owner), (second, team.assessor, owner))

    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["NoneType", "ValidationError"], outcomes
    (refused,) = [outcome for outcome in outcomes if outcome is not None]
    assert refused.messages == ["A project needs at least one owner: make someone else owner first."]
    assert Membership.objects.filter(project=team.project, role=Role.OWNER).count() == 1


@pytest.mark.parametrize("change", [demote, remove], ids=["role change", "removal"])
def test_a_change_to_a_member_removed_a_moment_ago_is_refused_cleanly(team, change):
    """The request read the membership, then another owner removed it before this change took its lock:
    a refusal naming the member (a message on the page, a 400 from the API), not a server error."""
    read_by_this_request = team.project.memberships.get(user=team.reviewer)
    services.membership_remove(actor=team.owner, membership=team.project.memberships.get(user=team.reviewer))

    with pytest.raises(ValidationError) as refused:
        change(team.owner, read_by_this_request)
    assert refused.value.messages == [
        "reviewer is no longer a member of this project (someone removed them a moment ago); reload the members page."
    ]


def test_the_api_answers_400_when_the_member_was_removed_a_moment_ago(team, monkeypatch):
    from rest_framework.test import APIClient

    reviewer = team.project.memberships.get(user=team.reviewer)
    real_lock = services._locked_for_change

    def removed_meanwhile(membership):
        Membership.objects.filter(pk=membership.pk).delete()  # another owner's removal, committed just before
        return real_lock(membership)

    monkeypatch.setattr(services, "_locked_for_change", removed_meanwhile)
    client = APIClient()
    client.force_authenticate(team.owner)
    response = client.post(
        f"/api/v1/projects/{team.project.pk}/members/{reviewer.pk}/role/", {"role": "assessor"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "no longer a member" in response.json()["detail"]
