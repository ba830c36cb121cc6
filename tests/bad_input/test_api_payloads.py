"""What any API call can get wrong: the body's syntax and media type, field types, lengths, unknown fields,
query parameters, pages, credentials, and ids of objects in projects the caller is not in (404, the same as
for an id that does not exist, so the answer tells nothing about other projects)."""

import pytest

from tests.bad_input.checks import Refused, body, by_route, check_refused, state

pytestmark = pytest.mark.django_db

PROJECT = {"name": "Speech", "risk_appetite": "low"}


def create_project(data, **kwargs):
    return lambda w: w.api().post("/api/v1/projects/create/", data, **({"format": "json"} | kwargs))


def get(path, who="owner"):
    return lambda w: w.api(who).get(w.api_url(path))


PAYLOADS = [
    Refused(
        "malformed JSON",
        create_project('{"name": "Speech", ', content_type="application/json", format=None),
        400,
        {"detail": "JSON parse error - Expecting property name enclosed in double quotes"},
    ),
    Refused(
        "JSON that is not an object",
        create_project(["Speech", "low"]),
        400,
        {"non_field_errors": "Invalid data. Expected a dictionary, but got list."},
    ),
    Refused(
        "plain text",
        create_project("name=Speech", content_type="text/plain", format=None),
        415,
        {"detail": 'Unsupported media type "text/plain" in request.'},
    ),
    Refused(
        "a form post",
        create_project("name=Speech&risk_appetite=low", content_type="application/x-www-form-urlencoded", format=None),
        415,
        {"detail": 'Unsupported media type "application/x-www-form-urlencoded" in request.'},
    ),
    Refused(
        "XML",
        create_project("<project/>", content_type="application/xml", format=None),
        415,
        {"detail": 'Unsupported media type "application/xml" in request.'},
    ),
    Refused("a list for a name", create_project({**PROJECT, "name": ["Speech"]}), 400, {"name": "Not a valid string."}),
    Refused(
        "a number for a choice",
        create_project({**PROJECT, "risk_appetite": 3}),
        400,
        {"risk_appetite": '"3" is not a valid choice; choose one of: low, medium, high, critical.'},
    ),
    Refused(
        "name over 200 characters",
        create_project({**PROJECT, "name": "n" * 201}),
        400,
        {"name": "Ensure this field has no more than 200 characters."},
    ),
    Refused(
        "a NUL character",
        create_project({**PROJECT, "name": "Speech\x00"}),
        400,
        {"name": "Null characters are not allowed."},
    ),
    Refused("blank name", create_project({**PROJECT, "name": "  "}), 400, {"name": "This field may not be blank."}),
    Refused(
        "a misspelt field: unknown fields are ignored, so the real one is missing",
        create_project({"nmae": "Speech", "risk_appetite": "low"}),
        400,
        {"name": "This field is required."},
    ),
    Refused(
        "unknown job status filter",
        get("jobs/?status=sleeping"),
        400,
        {"status": '"sleeping" is not a valid choice; choose one of: queued, running, succeeded, failed'},
    ),
    Refused(
        "page size not a number (was ignored)",
        get("jobs/?page_size=ten"),
        400,
        {"page_size": "Give a whole number from 1 to 200, not 'ten'."},
    ),
    Refused("page size zero", get("risks/?page_size=0"), 400, {"page_size": "Give a whole number from 1 to 200"}),
    Refused(
        "page past the end",
        get("models/?page=99"),
        404,
        {"detail": "Invalid page '99': That page contains no results. Pages are numbered from 1."},
    ),
    Refused(
        "page not a number",
        get("members/?page=first"),
        404,
        {"detail": "Invalid page 'first': That page number is not an integer. Pages are numbered from 1."},
    ),
    Refused(
        "a body nested 5,000 levels deep (was a 500: RecursionError)",
        create_project('{"name": ' + "[" * 5000 + "]" * 5000 + "}", content_type="application/json", format=None),
        400,
        {"detail": "JSON parse error - the body is nested more than 64 levels deep; send a flatter one."},
    ),
    Refused(
        "gates of a model id in superscript digits (was a 500: '²' passed str.isdigit, not int())",
        get("gates/?model=²"),
        400,
        {"model": "Give the id of a model of this project."},
    ),
    Refused(
        "gates of a model id that is not a number",
        get("gates/?model=latest"),
        400,
        {"model": "Give the id of a model of this project."},
    ),
    Refused(
        "no credentials",
        lambda w: w.api(None).post("/api/v1/projects/create/", PROJECT, format="json"),
        401,
        {"detail": "Authentication credentials were not provided."},
    ),
    Refused(
        "a token header without a token",
        lambda w: w.api(None).post("/api/v1/projects/create/", PROJECT, format="json", HTTP_AUTHORIZATION="Token"),
        401,
        {"detail": "Invalid token header. No credentials provided."},
    ),
    Refused(
        "a token that is not one",
        lambda w: w.api(None).get("/api/v1/projects/", HTTP_AUTHORIZATION="Token not-a-token"),
        401,
        {"detail": "Invalid token."},
    ),
]


@pytest.mark.parametrize("case", by_route(API=PAYLOADS))
def test_bad_payload_is_refused_with_a_clear_error(world, case):
    check_refused(world, case)


# --- ids of other projects' objects -------------------------------------------------------------------------------

# (method, path under the team's project with {model}, {dataset}, {job}, {file}, {gate}, {membership})
ROUTES = [
    ("GET", "models/{model}/"),
    ("GET", "models/{model}/gates/"),
    ("POST", "models/{model}/test-plan/"),
    ("GET", "gates/?model={model}"),
    ("GET", "datasets/{dataset}/"),
    ("GET", "jobs/{job}/"),
    ("POST", "jobs/{job}/cancel/"),
    ("GET", "jobs/{job}/result/"),
    ("GET", "jobs/{job}/files/{file}/"),
    ("POST", "gates/{gate}/update/"),
    ("POST", "gates/{gate}/delete/"),
    ("POST", "members/{membership}/role/"),
    ("POST", "members/{membership}/remove/"),
]
BODIES = {"gates/{gate}/update/": {"kind": "no_backdoor_flag"}, "members/{membership}/role/": {"role": "viewer"}}


def _call(world, method, path, ids):
    api = world.api()
    url = world.api_url(path.format(**ids))
    if method == "GET":
        return api.get(url)
    return api.post(url, BODIES.get(path, {}), format="json")


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_an_id_from_another_project_is_404_like_an_id_that_does_not_exist(world, method, path):
    other = world.other
    theirs = {
        "model": other.model.pk,
        "dataset": other.dataset.pk,
        "job": other.job.pk,
        "file": world.objects["file"].pk,  # the team's own file, asked for through another project's job
        "gate": other.gate.pk,
        "membership": other.membership.pk,
    }
    missing = dict.fromkeys(theirs, 999_999)
    too_large = dict.fromkeys(theirs, 2**70)  # past any database integer: still a plain 404
    before = state()
    foreign, absent, huge = (_call(world, method, path, ids) for ids in (theirs, missing, too_large))
    assert foreign.status_code == absent.status_code == huge.status_code == 404, body(foreign)
    assert foreign.json() == absent.json() == huge.json()  # nothing tells their object exists
    assert state() == before


@pytest.mark.parametrize(
    ("method", "path"), [("GET", ""), ("POST", "update/"), ("GET", "jobs/"), ("POST", "jobs/create/")]
)
def test_a_project_you_are_not_in_is_404_like_one_that_does_not_exist(world, method, path):
    before = state()
    responses = []
    for project_id in (world.other.project.pk, 999_999):
        url = f"/api/v1/projects/{project_id}/{path}"
        api = world.api()
        response = api.get(url) if method == "GET" else api.post(url, {"kind": "environment_check"}, format="json")
        responses.append(response)
    assert [r.status_code for r in responses] == [404, 404]
    assert responses[0].json() == responses[1].json() == {"detail": "No such project."}
    assert state() == before
