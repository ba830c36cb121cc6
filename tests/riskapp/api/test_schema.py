"""The OpenAPI 3 schema: generated without a single warning or error, served as YAML/JSON, with Swagger UI
whose files are served locally (never a CDN)."""

import pytest
import yaml
from django.core.management import call_command

from tests.riskapp.api.test_access_matrix import ROUTES

pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings_or_errors(tmp_path):
    out = tmp_path / "schema.yaml"
    # --fail-on-warn raises on any warning; --validate checks the document against the OpenAPI 3 spec.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    assert schema["openapi"].startswith("3.")
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_schema_documents_every_api_route(client):
    schema = yaml.safe_load(client.get("/api/v1/schema/").content)
    documented = {path for path in schema["paths"]}
    api_routes = {name for name in ROUTES if name not in ("api:schema", "api:docs")}
    assert len(documented) == len(api_routes)
    assert "/api/v1/projects/{project_id}/models/upload/" in documented
    upload = schema["paths"]["/api/v1/projects/{project_id}/models/upload/"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert {"201", "409", "413", "429"} <= set(upload["responses"])


def test_schema_is_served_as_json_too(client):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200 and response.json()["info"]["title"] == "riskapp API"


def test_swagger_ui_is_served_with_local_files(client):
    response = client.get("/api/v1/docs/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "https://" not in html
