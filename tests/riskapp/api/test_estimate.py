"""POST jobs/estimate/: how long a security test would take, for a CI pipeline deciding what to queue."""

import pytest

from riskapp.artifacts.models import DatasetArtifact, ModelArtifact
from riskapp.evaluations.estimates import START_SECONDS

pytestmark = pytest.mark.django_db

TIMING = {"forward_s": 0.01, "gradient_s": 0.03, "device": "cpu", "threads": 2, "batch": 4}


def test_the_api_estimates_a_security_test_without_queueing_it(team, api_for):
    from riskapp.jobs.models import Job

    model = ModelArtifact.objects.create(
        project=team.project, name="m", original_name="m", sha256="a" * 64, size=1, file="m", num_classes=10,
        status="ready", intake={"timing": TIMING},
    )  # fmt: skip
    dataset = DatasetArtifact.objects.create(
        project=team.project, name="d", original_name="d", sha256="b" * 64, size=1, file="d", status="ready",
        intake={"samples": 2000},
    )  # fmt: skip
    url = f"/api/v1/projects/{team.project.pk}/jobs/estimate/"
    client = api_for(team.assessor)
    before = Job.objects.count()
    response = client.post(
        url,
        {"kind": "attack", "parameters": {"model_id": model.pk, "dataset_id": dataset.pk, "attack": "pgd_linf",
                                          "eps": 0.1, "sample_limit": 500}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["seconds"] == pytest.approx(START_SECONDS + 500 * (10 * 0.03 + 2 * 0.01))
    assert response.json()["text"].startswith("At most 3 min")
    assert Job.objects.count() == before  # nothing queued
    bad = client.post(url, {"kind": "attack", "parameters": {"model_id": model.pk, "dataset_id": 10**6}}, format="json")
    assert bad.status_code == 400 and "dataset_id" in bad.json()["parameters"]
    not_a_test = client.post(url, {"kind": "speed_check", "parameters": {}}, format="json")
    assert not_a_test.status_code == 400 and "kind" in not_a_test.json()
