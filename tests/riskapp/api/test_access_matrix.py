"""Who may call which API route: every route under /api/v1/, for every role, outsiders, staff and anonymous.

The routes are read from the URL configuration, so a new API route without a rule here fails
`test_every_api_route_has_an_access_rule`.
"""

import pytest
from django.urls import URLPattern, URLResolver, reverse

from riskapp.api import urls as api_urls
from riskapp.assessments.bank import load_bank

ROLES = ("owner", "assessor", "reviewer", "viewer")
EDITORS = ("owner", "assessor")
THREAT = load_bank().threats[0].id
PUBLIC = "public"  # anyone, signed in or not
SIGNED_IN = "signed in"  # any signed-in user; no project in the URL

# url name -> (method, who may). Other members get 403, outsiders and staff 404, anonymous 401.
RULES = {
    "api:schema": ("GET", PUBLIC),
    "api:docs": ("GET", PUBLIC),
    "api:project_list": ("GET", SIGNED_IN),
    "api:project_create": ("POST", SIGNED_IN),
    "api:architecture_list": ("GET", SIGNED_IN),
    "api:project_detail": ("GET", ROLES),
    "api:project_update": ("POST", ("owner",)),
    "api:member_list": ("GET", ROLES),
    "api:member_add": ("POST", ("owner",)),
    "api:member_set_role": ("POST", ("owner",)),
    "api:member_remove": ("POST", ("owner",)),
    "api:assessment_detail": ("GET", ROLES),
    "api:assessment_questions": ("GET", ROLES),
    "api:assessment_answers": ("POST", EDITORS),
    "api:assessment_submit": ("POST", EDITORS),
    "api:assessment_review": ("POST", ("owner", "reviewer")),
    "api:risk_list": ("GET", ROLES),
    "api:risk_detail": ("GET", ROLES),
    "api:risk_treatment": ("POST", ("owner", "assessor", "reviewer")),
    "api:model_list": ("GET", ROLES),
    "api:model_upload": ("POST", EDITORS),
    "api:model_detail": ("GET", ROLES),
    "api:model_delete": ("POST", EDITORS),
    "api:model_test_plan": ("POST", EDITORS),
    "api:model_gates": ("GET", ROLES),
    "api:gate_list": ("GET", ROLES),
    "api:gate_create": ("POST", ("owner",)),
    "api:gate_update": ("POST", ("owner",)),
    "api:gate_delete": ("POST", ("owner",)),
    "api:dataset_list": ("GET", ROLES),
    "api:dataset_upload": ("POST", EDITORS),
    "api:dataset_detail": ("GET", ROLES),
    "api:dataset_delete": ("POST", EDITORS),
    "api:job_list": ("GET", ROLES),
    "api:job_create": ("POST", EDITORS),
    "api:job_estimate": ("POST", EDITORS),
    "api:job_detail": ("GET", ROLES),
    "api:job_cancel": ("POST", EDITORS),
    "api:job_result": ("GET", ROLES),
    "api:job_file": ("GET", ROLES),
    "api:report_register": ("GET", ROLES),
    "api:report_assessment": ("GET", ROLES),
}

POST_DATA = {
    "api:project_create": {"name": "Speech", "risk_appetite": "low"},
    "api:project_update": {"name": "Traffic signs", "risk_appetite": "high"},
    "api:member_add": {"username": "outsider", "role": "viewer"},
    "api:member_set_role": {"role": "reviewer"},
    "api:assessment_answers": {"answers": {"context.uses_pretrained": "no"}},
    "api:assessment_review": {"action": "return", "comment": "Explain the teacher's source."},
    "api:risk_treatment": {"treatment": "mitigate"},
    "api:job_create": {"kind": "environment_check", "parameters": {"queue": "cpu"}},
    "api:gate_create": {"kind": "no_backdoor_flag"},
    "api:gate_update": {"kind": "max_transfer_success", "params": {"threshold": 0.2}},
}


def api_routes(patterns=api_urls.urlpatterns, parameters=frozenset()):
    """Route name -> the names of its URL parameters (its own and those of the includes above it)."""
    for pattern in patterns:
        found = parameters | set(pattern.pattern.converters)
        if isinstance(pattern, URLResolver):
            yield from api_routes(pattern.url_patterns, found)
        elif isinstance(pattern, URLPattern):
            yield f"api:{pattern.name}", found


ROUTES = dict(api_routes())


def test_every_api_route_has_an_access_rule():
    assert sorted(ROUTES) == sorted(RULES)


def url_for(name, team, objects):
    arguments = {
        "project_id": team.project.pk,
        "membership_id": objects["membership"].pk,
        "threat_id": THREAT,
        "model_id": objects["model"].pk,
        "dataset_id": objects["dataset"].pk,
        "job_id": objects["running_job" if name == "api:job_cancel" else "job"].pk,
        "file_id": objects["file"].pk,
        "gate_id": objects["gate"].pk,
    }
    return reverse(name, kwargs={key: arguments[key] for key in ROUTES[name]})


def call(client, name, team, objects):
    method, _ = RULES[name]
    url = url_for(name, team, objects)
    if method == "POST":
        return client.post(url, POST_DATA.get(name, {}), format="multipart" if name.endswith("_upload") else "json")
    return client.get(url)


@pytest.mark.parametrize("name", sorted(RULES))
@pytest.mark.parametrize("who", (*ROLES, "outsider", "staff", "anonymous"))
def test_api_route_access(name, who, team, objects, api_for):
    _, allowed = RULES[name]
    response = call(api_for(None if who == "anonymous" else getattr(team, who)), name, team, objects)
    if allowed == PUBLIC:
        assert response.status_code == 200
    elif who == "anonymous":
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"
    elif allowed == SIGNED_IN:
        assert response.status_code in (200, 201)
    elif who in ("outsider", "staff"):
        # Staff manage projects through Django admin; in the API they are outsiders like anyone.
        assert response.status_code == 404, response.content
        assert response.json() == {"detail": "No such project."}
    elif who in allowed:
        # Through the access gate: a result, or (a POST without its file) a validation error.
        assert response.status_code in (200, 201, 204, 400), response.content
    else:
        assert response.status_code == 403, response.content
        assert "does not allow" in response.json()["detail"]


@pytest.mark.parametrize("name", sorted(name for name, (method, _) in RULES.items() if method == "POST"))
def test_state_changing_routes_refuse_get(name, team, objects, api_for):
    response = api_for(team.owner).get(url_for(name, team, objects))
    assert response.status_code == 405


@pytest.mark.parametrize(
    "name", sorted(name for name, (method, who) in RULES.items() if method == "GET" and who != PUBLIC)
)
def test_reading_routes_refuse_post(name, team, objects, api_for):
    response = api_for(team.owner).post(url_for(name, team, objects), {}, format="json")
    assert response.status_code == 405
