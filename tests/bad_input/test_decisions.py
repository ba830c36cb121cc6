"""Bad decisions: risk treatments (accepting needs an owner, a rationale and a future expiry), quality gates
(parameters by kind, thresholds between 0 and 1), members (existing users, known roles, an owner always left)
and project settings. Refused, with the treatment, gate, membership or project unchanged."""

import datetime

import pytest
from django.utils import timezone

from riskapp.projects.models import Membership
from riskapp.projects.roles import Role
from tests.bad_input.checks import Refused, by_route, check_refused
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

THREAT = "model_theft"  # a medium risk for the world's answers: anyone who may treat risks may accept it
CRITICAL = "backdoor_inherited"  # critical with a pre-trained teacher: above the project's appetite (medium)
TODAY = timezone.localdate()
NEXT_MONTH = (TODAY + datetime.timedelta(days=30)).isoformat()
ACCEPT = {"treatment": "accept", "owner": "reviewer", "rationale": "Compensating controls", "expires_on": NEXT_MONTH}
FUTURE = "The acceptance must expire in the future: choose a later review date."
ROLES = "choose one of: owner, assessor, reviewer, viewer."


def api_post(path, data=None, who="owner"):
    return lambda w: w.api(who).post(w.api_url(path(w) if callable(path) else path), data, format="json")


def browser_post(path, data=None, who="owner"):
    return lambda w: w.browser(who).post(w.page(path(w) if callable(path) else path), data or {})


def treat(threat=THREAT, who="assessor", **fields):
    return api_post(f"risks/{threat}/treatment/", fields, who=who)


def treat_on_page(threat=THREAT, who="assessor", **fields):
    """The register page's treatment form of one risk (its fields are prefixed with the threat id)."""

    def send(w):
        data = {f"{threat}-{name}": value(w) if callable(value) else value for name, value in fields.items()}
        return w.browser(who).post(w.page(f"assessment/register/{threat}/treatment/"), data)

    return send


def gate(**body):
    return api_post("gates/create/", body)


def gate_update(**body):
    return api_post(lambda w: f"gates/{w.objects['gate'].pk}/update/", body)


def robust(**params):
    return {"kind": "min_robust_accuracy", "params": {"attack": "pgd_linf", "eps": 0.03, "threshold": 0.5, **params}}


def gate_on_page(**fields):
    data = {"kind": "min_robust_accuracy", "attack": "pgd_linf", "eps": "0.03", "threshold": "0.5", "enabled": "on"}
    return browser_post("gates/create/", {**data, **fields})


def owner_membership(w):
    return w.project.memberships.get(user=w.team.owner).pk


def inactive_user(w):
    make_user("gone", is_active=False)


TREATMENTS_API = [
    Refused(
        "accept without an owner, a rationale or an expiry",
        treat(treatment="accept"),
        400,
        {"detail": "Accepting a risk needs an owner, a rationale, an expiry date."},
    ),
    Refused(
        "accept without an expiry",
        treat(**{**ACCEPT, "expires_on": None}),
        400,
        {"detail": "Accepting a risk needs an expiry date."},
    ),
    Refused(
        "accept with an expiry in the past", treat(**{**ACCEPT, "expires_on": "2000-01-01"}), 400, {"detail": FUTURE}
    ),
    Refused("accept expiring today", treat(**{**ACCEPT, "expires_on": TODAY.isoformat()}), 400, {"detail": FUTURE}),
    Refused(
        "expiry that is not a date",
        treat(**{**ACCEPT, "expires_on": "next spring"}),
        400,
        {"expires_on": "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."},
    ),
    Refused(
        "owner who is not a member",
        treat(**{**ACCEPT, "owner": "outsider"}),
        400,
        {"owner": "'outsider' is not a member of this project."},
    ),
    Refused(
        "unknown treatment",
        treat(treatment="ignore"),
        400,
        {"treatment": '"ignore" is not a valid choice; choose one of: mitigate, transfer, avoid, accept.'},
    ),
    Refused("unknown threat", treat(threat="alien_invasion", **ACCEPT), 404, {"detail": "No such threat."}),
    Refused(
        "an assessor accepting a risk above the appetite",
        treat(threat=CRITICAL, **ACCEPT),
        400,
        {"detail": "above the project's appetite (medium): only a reviewer can accept it."},
    ),
]

TREATMENTS_BROWSER = [
    Refused(
        "accept without an owner, a rationale or an expiry",
        treat_on_page(treatment="accept"),
        302,
        {"message": "Theft of model weights from storage, pipelines or devices: Accepting a risk needs an owner"},
    ),
    Refused(
        "accept with an expiry in the past",
        treat_on_page(treatment="accept", owner=lambda w: w.team.reviewer.pk, rationale="r", expires_on="2000-01-01"),
        302,
        {"message": FUTURE},
    ),
    Refused(
        "expiry that is not a date (the message did not name the field)",
        treat_on_page(treatment="accept", owner=lambda w: w.team.reviewer.pk, rationale="r", expires_on="soon"),
        302,
        {"message": "Review by: Enter a valid date."},
    ),
    Refused(
        "owner who is not a member (was 'Select a valid choice')",
        treat_on_page(treatment="accept", owner=lambda w: w.team.outsider.pk, rationale="r", expires_on=NEXT_MONTH),
        302,
        {"message": "Owner: Choose the owner among the project's members."},
    ),
]

GATES_API = [
    Refused(
        "threshold above 1",
        gate(kind="max_transfer_success", params={"threshold": 1.5}),
        400,
        {"params/threshold": "Ensure this value is less than or equal to 1."},
    ),
    Refused(
        "threshold below 0",
        gate(**robust(threshold=-0.1)),
        400,
        {"params/threshold": "Ensure this value is greater than or equal to 0."},
    ),
    Refused("threshold not a number", gate(**robust(threshold="high")), 400, {"params/threshold": "Enter a number."}),
    Refused(
        "threshold true (was read as 1.0)",
        gate(kind="max_transfer_success", params={"threshold": True}),
        400,
        {"params/threshold": "Give a number, not true or false."},
    ),
    Refused("eps zero", gate(**robust(eps=0)), 400, {"params/eps": "ε must be above 0."}),
    Refused(
        "a parameter the kind needs, missing",
        gate(kind="max_transfer_success", params={}),
        400,
        {"params/threshold": "A “Transfer success rate at most” gate needs this."},
    ),
    Refused(
        "unknown parameter",
        gate(kind="no_backdoor_flag", params={"colour": "red"}),
        400,
        {"params/colour": "Unknown parameter; known: attack, eps, norm, threshold, budget."},
    ),
    Refused(
        "an attack that is not ε-bounded",
        gate(**robust(attack="deepfool")),
        400,
        {"params/attack": "deepfool is not an ε-bounded attack; choose one of autoattack, fgsm, pgd_l2, pgd_linf"},
    ),
    Refused(
        "unknown kind",
        gate(kind="vibes", params={}),
        400,
        {"kind": '"vibes" is not a valid choice; choose one of: min_robust_accuracy'},
    ),
    Refused(
        "params not an object",
        gate(kind="no_backdoor_flag", params=[0.5]),
        400,
        {"params": 'Expected a dictionary of items but got type "list".'},
    ),
    Refused(
        "update with a threshold above 1",
        gate_update(kind="max_transfer_success", params={"threshold": 2}),
        400,
        {"params/threshold": "Ensure this value is less than or equal to 1."},
    ),
]

GATES_BROWSER = [
    Refused(
        "threshold above 1",
        gate_on_page(threshold="2"),
        400,
        {"form:form/threshold": "Ensure this value is less than or equal to 1."},
    ),
    Refused(
        "missing eps",
        gate_on_page(eps=""),
        400,
        {"form:form/eps": "A “Minimum robust accuracy at ε” gate needs this."},
    ),
    Refused(
        "edit with a negative threshold",
        browser_post(
            lambda w: f"gates/{w.objects['gate'].pk}/edit/",
            {"kind": "max_transfer_success", "threshold": "-1", "enabled": "on"},
        ),
        400,
        {"form:form/threshold": "Ensure this value is greater than or equal to 0."},
    ),
]

MEMBERS_API = [
    Refused(
        "unknown user",
        api_post("members/add/", {"username": "nobody", "role": "viewer"}),
        400,
        {"username": "No active user is called 'nobody'. Ask an administrator to create the account first."},
    ),
    Refused(
        "deactivated user",
        api_post("members/add/", {"username": "gone", "role": "viewer"}),
        400,
        {"username": "No active user is called 'gone'."},
        given=inactive_user,
    ),
    Refused(
        "unknown role",
        api_post("members/add/", {"username": "outsider", "role": "god"}),
        400,
        {"role": f'"god" is not a valid choice; {ROLES}'},
    ),
    Refused(
        "a member twice",
        api_post("members/add/", {"username": "viewer", "role": "assessor"}),
        400,
        {"detail": "viewer is already a member of this project."},
    ),
    Refused(
        "user name over 150 characters",
        api_post("members/add/", {"username": "u" * 151, "role": "viewer"}),
        400,
        {"username": "Ensure this field has no more than 150 characters."},
    ),
    Refused(
        "unknown role for a member",
        api_post(lambda w: f"members/{w.objects['membership'].pk}/role/", {"role": "admin"}),
        400,
        {"role": f'"admin" is not a valid choice; {ROLES}'},
    ),
    Refused(
        "the last owner made a viewer",
        api_post(lambda w: f"members/{owner_membership(w)}/role/", {"role": "viewer"}),
        400,
        {"detail": "A project needs at least one owner: make someone else owner first."},
    ),
    Refused(
        "the last owner removed",
        api_post(lambda w: f"members/{owner_membership(w)}/remove/"),
        400,
        {"detail": "A project needs at least one owner: make someone else owner first."},
    ),
]

MEMBERS_BROWSER = [
    Refused(
        "unknown user",
        browser_post("members/add/", {"username": "nobody", "role": "viewer"}),
        302,
        {"message": "Username: No active user is called 'nobody'. Ask an administrator to create the account first."},
    ),
    Refused(
        "unknown role (the message did not name the field)",
        browser_post("members/add/", {"username": "outsider", "role": "god"}),
        302,
        {"message": "Role: Choose one of the roles: owner, assessor, reviewer, viewer."},
    ),
    Refused(
        "unknown role for a member",
        browser_post(lambda w: f"members/{w.objects['membership'].pk}/", {"role": "admin"}),
        302,
        {"message": "Role: Choose one of the roles: owner, assessor, reviewer, viewer."},
    ),
    Refused(
        "the last owner removed",
        browser_post(lambda w: f"members/{owner_membership(w)}/", {"action": "remove"}),
        302,
        {"message": "A project needs at least one owner: make someone else owner first."},
    ),
]

PROJECTS = [
    Refused(
        "API: settings with a name over 200 characters",
        api_post("update/", {"name": "n" * 201, "risk_appetite": "low"}),
        400,
        {"name": "Ensure this field has no more than 200 characters."},
    ),
    Refused(
        "API: settings with an unknown appetite",
        api_post("update/", {"name": "Traffic signs", "risk_appetite": "reckless"}),
        400,
        {"risk_appetite": '"reckless" is not a valid choice; choose one of: low, medium, high, critical.'},
    ),
    Refused(
        "browser: new project with a name over 200 characters",
        lambda w: w.browser().post("/projects/new/", {"name": "n" * 201, "risk_appetite": "low"}),
        200,
        {"form:form/name": "Ensure this value has at most 200 characters (it has 201)."},
    ),
    Refused(
        "browser: settings with an unknown appetite",
        browser_post("settings/", {"name": "Traffic signs", "risk_appetite": "reckless"}),
        200,
        {"form:form/risk_appetite": "Select a valid choice. reckless is not one of the available choices."},
    ),
]

CASES = by_route(
    **{
        "treatment (API)": TREATMENTS_API,
        "treatment (browser)": TREATMENTS_BROWSER,
        "gate (API)": GATES_API,
        "gate (browser)": GATES_BROWSER,
        "member (API)": MEMBERS_API,
        "member (browser)": MEMBERS_BROWSER,
        "project": PROJECTS,
    }
)


@pytest.mark.parametrize("case", CASES)
def test_bad_decision_is_refused_and_nothing_changes(world, case):
    check_refused(world, case)
    assert Membership.objects.get(project=world.project, user=world.team.owner).role == Role.OWNER
