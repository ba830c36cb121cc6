"""Backdoor result pages: one combined verdict from every check on the model, natural shortcuts explained,
STRIP calibration shown as calibration only and never as a done test, charts that show why their verdict follows."""

import pytest

from riskapp.assessments.plan import PlannedJob
from riskapp.charts import evaluations as figures
from riskapp.evaluations.kinds import job_runs_planned
from riskapp.jobs.models import Job, JobStatus
from tests.riskapp.evaluations.pages import result_page
from tests.riskapp.evaluations.test_result_pages import model

pytestmark = pytest.mark.django_db


def scan_result(flagged, shortcuts=()):
    classes = [
        {
            "class": k,
            "mask_l1": 2.0 if k in flagged else 1.5 if k in shortcuts else 10.0,
            "anomaly_index": 4.0 if k in flagged or k in shortcuts else 0.4,
            "below_median": k in flagged or k in shortcuts,
            "flagged": k in flagged,
            "anomalous": k in flagged or k in shortcuts,
            "natural_shortcut": k in shortcuts,
            "natural_success_rate": 0.93 if k in shortcuts else 0.02,
            "trigger_success_rate": 0.97,
            "fully_optimised": True,
        }
        for k in range(10)
    ]
    return {
        "schema": "riskapp.backdoor-scan/1",
        "flagged_classes": list(flagged),
        "natural_shortcut_classes": list(shortcuts),
        "natural_shortcut_success": 0.5,
        "backdoor_suspected": bool(flagged),
        "anomaly_threshold": 2.0,
        "median_mask_l1": 10.0,
        "classes": classes,
        "samples": 300,
        "steps": 600,
        "cost_schedule": "adaptive",
        "restarts": 2,
        "seconds": 4.2,
        "screening": {"rounds": [], "shortlist": list(range(10))},
    }


def strip_result(suspect=None):
    return {
        "schema": "riskapp.strip/1",
        "overlays": 20,
        "target_fpr": 0.01,
        "threshold": 0.2,
        "clean": {"count": 300, "entropy_mean": 1.1, "false_positive_rate": 0.01},
        "suspect": suspect,
        "histogram": {"bin_edges": [0.0, 1.0, 2.0], "clean": [10, 290]},
        "seconds": 1.0,
    }


def finished(team, kind, model_id, result, **parameters):
    return Job.objects.create(
        project=team.project,
        kind=kind,
        queue="gpu",
        status=JobStatus.SUCCEEDED,
        parameters={"model_id": model_id, **parameters},
        result=result,
    )


def test_the_scan_page_shows_the_combined_verdict_with_each_methods_evidence(team, client_for):
    student = model(team, "student")
    strip = finished(team, "strip", student.pk, strip_result({"flagged": 30, "count": 200}), suspect_path="s.npz")
    scan = finished(team, "backdoor_scan", student.pk, scan_result([0]))
    page = result_page(client_for(team.viewer), team, scan)
    assert "Combined backdoor verdict for this model" in page
    assert "Backdoor suspected by Neural Cleanse, STRIP (class 0)." in page
    assert "Corroborated by more than one method." in page
    assert "class 0: mask L1 2 against a median of 10 (anomaly index 4)" in page
    assert "30 of 200 suspicious inputs (15.0%)" in page
    assert f"/jobs/{strip.pk}/" in page  # each method links to the job its evidence came from
    assert "No poisoned-data scan." in page


def test_a_natural_shortcut_is_explained_on_the_page_and_in_the_chart(team, client_for):
    student = model(team, "student")
    scan = finished(team, "backdoor_scan", student.pk, scan_result([], shortcuts=[1]))
    page = result_page(client_for(team.viewer), team, scan)
    assert "no class flagged" in page and "natural shortcut of an easy class, not a backdoor" in page
    assert "no backdoor found" in page
    bars = figures.anomaly_bars(scan.result["classes"], 2.0)["data"][0]
    assert bars["text"][1] == "natural shortcut" and bars["text"][0] == ""


def test_strip_without_suspicious_inputs_is_calibration_only_and_not_a_done_plan_line(team, client_for):
    student = model(team, "student")
    job = finished(team, "strip", student.pk, strip_result())
    page = result_page(client_for(team.viewer), team, job)
    assert "calibration only" in page and "not assessed" in page
    planned = PlannedJob("strip", {}, ("r",), ("r",), ())
    assert not job_runs_planned(planned, "strip", job.parameters)
    assert job_runs_planned(planned, "strip", job.parameters | {"suspect_path": "suspect.npz"})


def test_the_lineage_chart_draws_the_teachers_mask_sizes_beside_the_trigger_success():
    rows = [
        {"class": k, "success_rate": 0.9, "teacher_flagged": k == 0, "teacher_mask_l1": 2.0 if k == 0 else 9.0}
        for k in range(10)
    ]
    figure = figures.trigger_survival_bars(rows)
    assert [trace["type"] for trace in figure["data"]] == ["bar", "scatter"]
    assert figure["data"][1]["y"][0] == 2.0 and figure["data"][1]["yaxis"] == "y2"
    assert figure["layout"]["yaxis2"]["overlaying"] == "y"
    old_rows = [{"class": 0, "success_rate": 0.9, "teacher_flagged": True}]  # documents from before the change
    assert len(figures.trigger_survival_bars(old_rows)["data"]) == 1
