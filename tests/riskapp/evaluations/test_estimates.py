"""Before a test is queued, the run form says how long it takes at most, from the model's timing at upload."""

import pytest

from attacks.backdoor.cleanse import DEFAULT_BATCH, planned_class_steps
from attacks.cost import Work, job_work
from riskapp.artifacts.models import DatasetArtifact, ModelArtifact
from riskapp.evaluations.estimates import START_SECONDS, duration_words, evaluation_estimate
from tests.riskapp.artifacts.test_upload import url
from tests.riskapp.evaluations.test_evasion_jobs import ready  # noqa: F401, F811

pytestmark = pytest.mark.django_db

TIMING = {"forward_s": 0.01, "gradient_s": 0.03, "device": "cpu", "threads": 2, "batch": 4}


def test_job_work_counts_each_tasks_passes_from_the_engines_own_parameters():
    assert job_work("evasion", {"attacks": ["pgd_linf"], "steps": 20}, samples=100, num_classes=10) == Work(2000, 200)
    assert job_work("evasion", {"attacks": ["fgsm", "square"], "max_queries": 500}, samples=10, num_classes=10) == Work(
        10, 10 * (2 + 501)
    )
    scan = job_work("backdoor_scan", {"steps": 300}, samples=200, num_classes=100)
    assert scan.gradients == planned_class_steps(100, 300) * DEFAULT_BATCH  # screened: 8 classes shortlisted
    assert scan.gradients < 100 * 300 * DEFAULT_BATCH / 4
    assert job_work("backdoor_scan", {"steps": 300, "screening": "all"}, samples=200, num_classes=100).gradients == (
        100 * 300 * DEFAULT_BATCH
    )
    assert job_work("strip", {"overlays": 10, "suspect_path": "x"}, samples=50, num_classes=10) == Work(0, 1000)
    assert Work(100, 50).seconds(TIMING) == pytest.approx(3.5)


def test_the_estimate_is_the_counted_work_at_the_models_measured_speed(team):
    model = ModelArtifact.objects.create(
        project=team.project, name="m", original_name="m", sha256="a" * 64, size=1, file="m", num_classes=10,
        intake={"timing": TIMING},
    )  # fmt: skip
    dataset = DatasetArtifact.objects.create(
        project=team.project, name="d", original_name="d", sha256="b" * 64, size=1, file="d", intake={"samples": 2000}
    )
    estimate = evaluation_estimate(
        kind="attack", model=model, dataset=dataset, options={"attacks": ["pgd_linf"], "eps": 0.1, "sample_limit": 500}
    )
    assert estimate.seconds == pytest.approx(START_SECONDS + 500 * (10 * 0.03 + 2 * 0.01))  # 170 s
    assert estimate.text.startswith("At most 3 min on a CPU worker (2 threads)")
    assert "500 samples" in estimate.text

    model.intake = {}
    untimed = evaluation_estimate(kind="attack", model=model, dataset=dataset, options={"attacks": ["pgd_linf"]})
    assert untimed.seconds is None and "not timed" in untimed.text


def test_durations_read_as_words():
    assert [duration_words(s) for s in (12, 160, 7380)] == ["under a minute", "3 min", "2 h 03 min"]


def test_an_uploaded_model_is_timed_and_the_run_form_shows_the_estimate(team, ready):  # noqa: F811
    assessor, model, dataset = ready
    model.refresh_from_db()
    timing = model.intake["timing"]
    assert 0 < timing["forward_s"] < timing["gradient_s"] and timing["device"] == "cpu"
    page = assessor.get(url("model", team, model_id=model.pk)).content.decode()
    assert url("model_estimate", team, model_id=model.pk) in page and 'id="run-estimate"' in page
    fields = {"kind": "attack", "dataset": dataset.pk, "attack": "pgd_linf", "eps": "0.1", "sample_limit": 300}
    response = assessor.get(url("model_estimate", team, model_id=model.pk), fields)
    assert response.status_code == 200
    text = response.content.decode()
    assert text.startswith("At most") and "300 samples" in text
    incomplete = assessor.get(url("model_estimate", team, model_id=model.pk), {"kind": "attack"})
    assert "Complete the test&#x27;s fields" in incomplete.content.decode()
