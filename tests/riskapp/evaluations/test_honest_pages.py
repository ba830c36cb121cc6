"""Result pages say what was measured and how sure it is: minimum-norm attacks as distances, never as a result at
ε; every number with its samples and interval; unmeasured values not drawn as 0; a plan line done only when its
job ran."""

import json

import pytest
from django.urls import reverse

from riskapp.assessments.bank import load_bank
from riskapp.assessments.models import AssessmentVersion
from riskapp.assessments.plan import PlannedJob
from riskapp.assessments.selectors import plan_checklist
from riskapp.evaluations.kinds import job_runs_planned
from riskapp.jobs.models import Job, JobStatus
from tests.riskapp.dashboards.test_pages import attack_result, finished, make_model, scan_result
from tests.riskapp.evaluations.pages import result_page
from tests.riskapp.evaluations.test_result_pages import curve_job

pytestmark = pytest.mark.django_db

# HopSkipJump on 200 inputs (190 correct): all but 40 of its 150 flips needed L∞ 0.36-0.48.
HSJ = {
    "attack": "hopskipjump",
    "white_box": False,
    "eps_bounded": False,
    "norm": "inf",
    "eps": None,
    "samples": 200,
    "attacked": 190,
    "fooled": 150,
    "clean_accuracy": 0.95,
    "robust_accuracy": 0.2,
    "attack_success_rate": 0.789474,
    "perturbation": {"linf_max": 0.48, "l2_median": 2.1, "l2_max": 3.0},
    "queries": 190000,
    "queries_per_sample": 1000.0,
    "wall_seconds": 30.0,
    "examples": [],
    "distances": {
        "attacked": 190,
        "found": 150,
        "linf": {
            "p10": 0.02,
            "p25": 0.36,
            "median": 0.36,
            "p75": 0.48,
            "p90": None,
            "values": [0.02] * 40 + [0.36] * 60 + [0.48] * 50,
        },
        "l2": {"p10": 0.1, "p25": 1.5, "median": 2.1, "p75": 2.9, "p90": None, "values": []},
        "at_eps": {"eps": 0.1, "norm": "inf", "fooled": 40, "robust_accuracy": 0.75},
    },
}
PGD = {
    "attack": "pgd_linf",
    "white_box": True,
    "eps_bounded": True,
    "norm": "inf",
    "eps": 0.1,
    "samples": 200,
    "attacked": 190,
    "fooled": 70,
    "clean_accuracy": 0.95,
    "robust_accuracy": 0.6,
    "attack_success_rate": 0.368421,
    "perturbation": {"linf_max": 0.1, "l2_median": 0.5, "l2_max": 0.6},
    "queries": None,
    "queries_per_sample": None,
    "wall_seconds": 1.0,
    "examples": [],
}


def evasion_result(*attacks):
    return {
        "schema": "riskapp.evasion/1",
        "task": "evasion",
        "clean_accuracy": 0.95,
        "attacks": list(attacks),
        "flags": [],
        "trustworthy": True,
        "verdict": "trustworthy: no validity check fired",
        "settings": {"eps": 0.1, "norm": "inf", "steps": 20, "max_queries": 1000},
        "device": "cpu",
        "data": {"samples": 200, "path": "test.npz"},
        "model": {"path": "cnn.safetensors"},
    }


def figure(page: str, name: str) -> dict:
    start = page.index(f'id="{name}-figure"')
    return json.loads(page[page.index(">", start) + 1 : page.index("</script>", start)])


def table(page: str, table_id: str) -> str:
    return page.split(f'id="{table_id}"')[1].split("</table>")[0]


def test_a_minimum_norm_attack_is_shown_as_distances_never_as_a_result_at_eps(team, client_for):
    AssessmentVersion.objects.create(
        project=team.project, number=1, bank_version=2, answers={"requirements.input_eps": 0.03}
    )
    student = make_model(team.project, "student")
    job = finished(team.project, "attack_suite", student, evasion_result(PGD, HSJ), dataset_id=1)
    page = result_page(client_for(team.viewer), team, job)
    bounded = table(page, "bounded-attacks")
    assert "PGD L∞" in bounded and "HopSkipJump" not in bounded  # attacks by their names, not riskapp's ids
    assert [bar["x"] for bar in figure(page, "attack-bars")["data"]] == [["pgd_linf"]]
    distances = table(page, "min-norm-distances")
    assert "HopSkipJump" in distances and "<td>0.36</td>" in distances and "not reached" in distances
    # At the project's ε 0.03 only the 40 flips within it count: 150 of 200 inputs stay correct.
    assert "Accuracy at the project's ε 0.03" in distances and "0.750" in distances
    assert "0.200" not in distances  # the share of flips of any size is no robust accuracy
    curve = figure(page, "distance-curves")["data"][0]
    assert curve["name"] == "hopskipjump" and curve["y"][0] == 0.95 and curve["y"][-1] == 0.2


def test_every_attack_result_states_its_samples_and_interval(team, client_for):
    student = make_model(team.project, "student")
    job = finished(team.project, "attack", student, evasion_result(PGD), dataset_id=1)
    bounded = table(result_page(client_for(team.viewer), team, job), "bounded-attacks")
    # 120 of 200 robust: the 95% Wilson interval is 0.531-0.665.
    assert "0.600" in bounded and "95% CI 0.531–0.665 over 200" in bounded
    assert "95% CI 0.303–0.439 over 190" in bounded  # the success rate, over the attacked inputs


def test_an_attack_page_names_no_engine_file_and_rounds_its_numbers(team, client_for):
    student = make_model(team.project, "student")
    pgd = PGD | {"perturbation": {"linf_max": 0.1, "l2_median": 0.6055591, "l2_max": 0.7}}
    hsj = HSJ | {"queries_per_sample": 2338.0}
    result = evasion_result(pgd, hsj)
    result["model"] = {"path": "job2-a038435f7579564eb0855072188ea7d9f0.safetensors"}
    result["data"] |= {"path": "job1-6a0f10dde43344e9bd0e3db968e5faf2.npz"}
    page = result_page(client_for(team.viewer), team, finished(team.project, "attack", student, result))
    headline = page.split('id="bounded-attacks"')[0]
    assert "job2-" not in page.split("The full result document")[0] and ".npz" not in headline
    assert "200 samples" in headline
    assert "<td>0.606</td>" in table(page, "bounded-attacks") and "0.6055591" not in table(page, "bounded-attacks")
    assert "<td>2338</td>" in table(page, "min-norm-distances") and "2338.0" not in table(page, "min-norm-distances")


def test_curve_and_transfer_pages_state_their_intervals(team, client_for):
    student = make_model(team.project, "student")
    curve = curve_job(team, student.pk, [(0.05, 0.9), (0.1, 0.5)])
    page = result_page(client_for(team.viewer), team, curve)
    assert "95% CI 0.404–0.596 over 100" in table(page, "curve-uncertainty")
    teacher = make_model(team.project, "teacher")
    transfer = {
        "attack": "pgd_linf",
        "eps": 0.1,
        "samples": 200,
        "attacked": 180,
        "transfer_success_rate": 0.1,
        "teacher_success_on_crafted": 0.9,
        "teacher_clean_accuracy": 0.95,
        "student_clean_accuracy": 0.93,
        "white_box_teacher": None,
        "white_box_student": None,
    }
    job = finished(team.project, "transfer_attack", student, transfer, teacher_id=teacher.pk, dataset_id=1)
    assert "95% CI 0.064–0.153 over 180" in result_page(client_for(team.viewer), team, job)


def test_the_risk_page_states_each_robust_accuracy_with_its_interval(team, client_for):
    student = make_model(team.project, "student")
    finished(team.project, "attack", student, evasion_result(PGD), dataset_id=1)
    page = client_for(team.viewer).get(reverse("projects:dashboards:risk", args=[team.project.pk])).content.decode()
    assert "0.600</a>" in page and "ε 0.1 · 95% CI 0.531–0.665 over 200" in page


def trends(team, client_for) -> str:
    return client_for(team.viewer).get(reverse("projects:dashboards:trends", args=[team.project.pk])).content.decode()


def test_trends_never_draw_an_unmeasured_robust_accuracy_as_zero(team, client_for):
    v1 = make_model(team.project, "student", "1")
    v2 = make_model(team.project, "student", "2", previous=v1)
    finished(team.project, "attack", v1, attack_result(0.61))
    finished(team.project, "backdoor_scan", v2, scan_result([3]))  # flagged, robustness never measured
    page = trends(team, client_for)
    assert "0.610" in page and "pgd_linf" in page  # the measured version says which attack gave it
    traces = figure(page, "version-trend")
    assert traces["data"][0]["y"] == [0.61, None]
    assert all(0 not in trace["y"] for trace in traces["data"])
    labels = [a["text"] for a in traces["layout"]["annotations"]]
    assert labels == ["✕ backdoor (robustness not measured)"]


SUITE = PlannedJob("attack_suite", {"attacks": ["fgsm", "pgd", "deepfool", "square"], "eps": 0.03}, ("r",), ("r",), ())


def test_a_suite_without_one_of_its_planned_attacks_did_not_run_the_plan_line():
    full = {"attacks": ["fgsm", "pgd_linf", "deepfool", "square"], "eps": 0.03}
    assert job_runs_planned(SUITE, "attack_suite", full)
    assert not job_runs_planned(SUITE, "attack_suite", full | {"attacks": ["fgsm", "pgd_linf", "square"]})
    assert not job_runs_planned(SUITE, "attack_suite", full | {"eps": 0.1})  # another budget is another test


def test_the_plan_checklist_marks_done_only_the_lines_whose_job_ran(team):
    answers = {"requirements.integrity_need": "high", "requirements.input_eps": 0.03}
    student = make_model(team.project, "student")
    finished(
        team.project, "attack_suite", student, evasion_result(PGD), attacks=["fgsm", "pgd_linf", "square"], eps=0.03
    )
    finished(team.project, "attack", student, evasion_result(PGD), attacks=["pgd_linf"], eps=0.1)

    def state(kind):
        items = plan_checklist(project=team.project, bank=load_bank(), answers=answers)
        return next(item.state for item in items if item.planned.kind == kind)

    assert state("attack_suite") == "not run" and state("attack") == "not run"
    Job.objects.create(
        project=team.project,
        kind="attack_suite",
        queue="gpu",
        status=JobStatus.SUCCEEDED,
        parameters={"model_id": student.pk, "attacks": ["fgsm", "pgd_linf", "deepfool", "square"], "eps": 0.03},
        result=evasion_result(PGD),
    )
    assert state("attack_suite") == "done"


def test_a_measured_number_reads_as_a_reader_wants_it():
    from riskapp.evaluations.templatetags.evaluation_extras import measure

    assert [measure(v) for v in (2338.0, 0.6055591, 0.1, 0.0042137, 3)] == ["2338", "0.606", "0.1", "0.0042", "3"]
    assert measure(None, "not reached") == "not reached" and measure("") == "—"  # a key the result lacks
