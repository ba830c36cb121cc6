"""Requests generated from the OpenAPI schema: no operation answers with a server error, and every response
is one the schema documents (status code, media type, body, headers).

schemathesis reads /api/v1/schema/ from the app in-process (WSGI) and calls every operation as the project
owner with an API token. Path parameters are replaced by the ids of real objects of the owner's project (a
model and a dataset that passed intake, a finished job with a file, a gate, the viewer's membership, a
threat), so the generated bodies and query strings reach the services instead of stopping at a 404. Seeded
and bounded: CI sends the same requests every time.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from riskapp.accounts.services import api_token_create
from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact
from riskapp.assessments.bank import load_bank

SEED = 20240901
MAX_EXAMPLES = 8  # per operation in the fuzzing phase; the examples and coverage phases add their own few
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

config = schemathesis.Config(seed=SEED)
# No example database: a run never replays what an earlier run stored, so every run sends the same requests.
config.projects.default.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")
# Read at import: the schema is generated from the URL configuration and serializers, without the database.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application(), config=config)


@pytest.fixture
def one_connection():
    """Keep the requests on the test's database connection, inside its transaction.

    A request closes "old" connections when it starts and ends; that would close the connection the test's
    transaction lives on (Django's test client disconnects the same handler for the same reason)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def owner_api(team, objects, one_connection, settings):
    """(headers, path parameters): the owner's token, and the ids of the objects of the owner's project."""
    # Generated uploads and jobs would soon hit the per-user limits, and every request would be a 429.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"uploads": "100000/hour", "job_create": "100000/hour"},
    }
    # A model and evaluation data that passed intake: test plans and security tests get past "not ready".
    ModelArtifact.objects.filter(pk=objects["model"].pk).update(
        status=IntakeStatus.READY, architecture="cnn-digits", num_classes=10
    )
    DatasetArtifact.objects.filter(pk=objects["dataset"].pk).update(
        status=IntakeStatus.READY, intake={"samples": 500, "x_range": [0.0, 1.0]}
    )
    _, secret = api_token_create(user=team.owner, name="schemathesis")
    ids = {
        "project_id": team.project.pk,
        "model_id": objects["model"].pk,
        "dataset_id": objects["dataset"].pk,
        "job_id": objects["job"].pk,
        "file_id": objects["file"].pk,
        "gate_id": objects["gate"].pk,
        "membership_id": objects["membership"].pk,
        "threat_id": load_bank().threats[0].id,
    }
    return {"Authorization": f"Token {secret}"}, ids


@pytest.mark.django_db
@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_every_operation_answers_as_documented_and_never_with_a_server_error(case, owner_api):
    headers, ids = owner_api
    if case.path_parameters:
        case.path_parameters = {name: ids[name] for name in case.path_parameters}
    case.call_and_validate(headers=headers, checks=CHECKS)
