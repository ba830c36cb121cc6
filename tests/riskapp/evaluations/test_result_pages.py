"""Result pages drawn from stored result documents: overlaid curves, validity flags, inline images only for PNGs."""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from riskapp.artifacts.models import ModelArtifact
from riskapp.jobs.models import Job, JobFile, JobStatus
from riskapp.jobs.views import PNG_SIGNATURE
from tests.riskapp.evaluations.pages import result_page

pytestmark = pytest.mark.django_db


def model(team, name: str, version: str = "1") -> ModelArtifact:
    return ModelArtifact.objects.create(
        project=team.project,
        name=name,
        version=version,
        original_name=f"{name}.safetensors",
        sha256=(name + version).encode().hex().ljust(64, "0")[:64],
        size=3,
        file=ContentFile(b"abc", name="m.upload"),
    )


def curve_job(team, model_id: int, points: list[tuple[float, float]], *, norm="inf", trustworthy=True) -> Job:
    result = {
        "schema": "riskapp.evasion/1",
        "task": "robustness_curve",
        "attack": "pgd_linf" if norm == "inf" else "pgd_l2",
        "clean_accuracy": 0.99,
        "norm": norm,
        "steps": 10,
        "mode": "bisect",
        "curve": [{"eps": e, "robust_accuracy": a, "attacked": 10} for e, a in points],
        "flags": [] if trustworthy else [{"code": "curve_not_falling", "message": "robust accuracy rises with ε"}],
        "trustworthy": trustworthy,
        "verdict": "trustworthy: no validity check fired" if trustworthy else "not trustworthy: curve_not_falling",
        "device": "cpu",
        "wall_seconds": 1.0,
        "data": {"samples": 100, "path": "test.npz"},
    }
    return Job.objects.create(
        project=team.project,
        kind="robustness_curve",
        queue="gpu",
        status=JobStatus.SUCCEEDED,
        parameters={"model_id": model_id, "dataset_id": 1},
        result=result,
    )


def test_a_curve_page_overlays_the_latest_curve_of_each_other_model_with_the_same_norm(team, client_for):
    v1, v2, other = model(team, "student", "1"), model(team, "student", "2"), model(team, "baseline")
    mine = curve_job(team, v2.pk, [(0.05, 0.9), (0.1, 0.5)])
    curve_job(team, v1.pk, [(0.05, 0.7), (0.1, 0.111)])  # older job of v1 ...
    newest_v1 = curve_job(team, v1.pk, [(0.05, 0.8), (0.1, 0.333)])  # ... replaced by its newer curve
    curve_job(team, other.pk, [(0.5, 0.777)], norm="2")  # another norm: not comparable
    page = result_page(client_for(team.viewer), team, mine)
    assert "robustness-curve-figure" in page
    assert "student v2" in page and "student v1" in page
    assert "0.333" in page and "0.111" not in page and "0.777" not in page
    assert reverse("projects:jobs:detail", args=[team.project.pk, newest_v1.pk]) in page


def test_a_flagged_result_is_shown_as_not_trustworthy_with_its_reason(team, client_for):
    job = curve_job(team, model(team, "student").pk, [(0.05, 0.5), (0.1, 0.9)], trustworthy=False)
    page = result_page(client_for(team.viewer), team, job)
    assert "not trustworthy" in page and "curve_not_falling" in page and "robust accuracy rises with ε" in page


def test_image_view_serves_only_pngs_inline(team, client_for):
    job = curve_job(team, model(team, "student").pk, [(0.1, 0.5)])
    fake = JobFile.objects.create(job=job, name="fake.png", size=5, file=ContentFile(b"<svg>", name="f.png"))
    text = JobFile.objects.create(job=job, name="notes.txt", size=2, file=ContentFile(b"hi", name="n.txt"))
    real = JobFile.objects.create(
        job=job, name="real.png", size=12, file=ContentFile(PNG_SIGNATURE + b"data", name="r.png")
    )
    viewer = client_for(team.viewer)

    def image(f):
        return viewer.get(reverse("projects:jobs:image", args=[team.project.pk, job.pk, f.pk]))

    assert image(fake).status_code == 404  # named .png, but its bytes are not a PNG
    assert image(text).status_code == 404
    assert image(real)["Content-Type"] == "image/png"


def test_raw_result_stays_available_under_the_figures(team, client_for):
    job = curve_job(team, model(team, "student").pk, [(0.1, 0.5)])
    page = result_page(client_for(team.viewer), team, job)
    assert "The full result document" in page and "curve" in page


def test_an_autoattack_result_shows_what_each_stage_fooled(team, client_for):
    stages = [
        {"stage": "apgd-ce", "attacked": 493, "fooled": 200, "seconds": 3.8},
        {"stage": "apgd-t", "attacked": 293, "fooled": 11, "seconds": 31.0},
        {"stage": "fab-t", "attacked": 282, "fooled": 0, "seconds": 40.2},
        {"stage": "square", "attacked": 282, "fooled": 0, "seconds": 45.9},
    ]
    attack = {
        "attack": "autoattack",
        "white_box": True,
        "eps_bounded": True,
        "norm": "inf",
        "eps": 0.1,
        "samples": 500,
        "attacked": 493,
        "fooled": 211,
        "clean_accuracy": 0.986,
        "robust_accuracy": 0.564,
        "attack_success_rate": 0.428,
        "perturbation": {"linf_max": 0.1, "l2_median": 0.5},
        "queries": None,
        "queries_per_sample": None,
        "wall_seconds": 121.0,
        "device": "cpu",
        "examples": [],
        "stages": stages,
    }
    result = {
        "schema": "riskapp.evasion/1",
        "task": "evasion",
        "clean_accuracy": 0.986,
        "attacks": [attack],
        "flags": [],
        "trustworthy": True,
        "verdict": "trustworthy: no validity check fired",
        "settings": {"eps": 0.1, "norm": "inf", "steps": 40},
        "device": "cpu",
        "data": {"samples": 500, "path": "test.npz"},
        "model": {"path": "cnn.safetensors"},
    }
    job = Job.objects.create(
        project=team.project,
        kind="attack",
        queue="gpu",
        status=JobStatus.SUCCEEDED,
        parameters={"model_id": model(team, "student").pk, "dataset_id": 1},
        result=result,
    )
    page = result_page(client_for(team.viewer), team, job)
    assert 'id="autoattack-stages"' in page
    table = page.split('id="autoattack-stages"')[1].split("</table>")[0]
    rows = table.split("<tr>")[2:]
    assert len(rows) == 4
    assert "<td>apgd-ce</td><td>493</td><td>200</td><td>3.8</td>" in rows[0]
    assert "<td>square</td><td>282</td><td>0</td><td>45.9</td>" in rows[3]
