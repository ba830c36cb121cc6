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
    # PGD's and Neural Cleanse's gradient passes run in the engine's precision (bfloat16 where native).
    pgd = Work(forwards=200, auto_gradients=2000)
    assert job_work("evasion", {"attacks": ["pgd_linf"], "steps": 20}, samples=100, num_classes=10) == pgd
    forced = {"attacks": ["pgd_linf"], "steps": 20, "precision": "float32"}
    assert job_work("evasion", forced, samples=100, num_classes=10) == Work(2000, 200)
    assert job_work("evasion", {"attacks": ["fgsm", "square"], "max_queries": 500}, samples=10, num_classes=10) == Work(
        10, 10 * (2 + 501)
    )
    scan = job_work("backdoor_scan", {"steps": 300, "restarts": 1}, samples=200, num_classes=100)
    assert scan.auto_gradients == planned_class_steps(100, 300) * DEFAULT_BATCH  # screened: 8 classes shortlisted
    assert scan.auto_gradients < 100 * 300 * DEFAULT_BATCH / 4 and scan.gradients == 0
    # Each restart beyond the first runs the shortlist's last round once more (the last 180 of the 300 steps).
    restarted = job_work("backdoor_scan", {"steps": 300, "restarts": 3}, samples=200, num_classes=100)
    assert restarted.auto_gradients == scan.auto_gradients + 2 * 8 * 180 * DEFAULT_BATCH
    assert job_work(
        "backdoor_scan", {"steps": 300, "screening": "all", "restarts": 2}, samples=200, num_classes=100
    ).auto_gradients == (2 * 100 * 300 * DEFAULT_BATCH)
    assert job_work("strip", {"overlays": 10, "suspect_path": "x"}, samples=50, num_classes=10) == Work(0, 1000)
    assert Work(100, 50).seconds(TIMING) == pytest.approx(3.5)
    # A model timed on a float32 device: every gradient pass at float32's time; else the bfloat16 time for PGD's.
    assert Work(50, 50, auto_gradients=50).seconds(TIMING) == pytest.approx(3.5)
    assert Work(50, 50, auto_gradients=50).seconds(TIMING | {"bfloat16_gradient_s": 0.01}) == pytest.approx(2.5)


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

    # Timed where PGD's gradients run in bfloat16: PGD at that speed, the page says both.
    model.intake = {"timing": TIMING | {"bfloat16_gradient_s": 0.01}}
    faster = evaluation_estimate(
        kind="attack", model=model, dataset=dataset, options={"attacks": ["pgd_linf"], "eps": 0.1, "sample_limit": 500}
    )
    assert faster.seconds == pytest.approx(START_SECONDS + 500 * (10 * 0.01 + 2 * 0.01))
    assert "30 ms a forward + gradient per sample, 10 ms in bfloat16" in faster.text

    model.intake = {}
    untimed = evaluation_estimate(kind="attack", model=model, dataset=dataset, options={"attacks": ["pgd_linf"]})
    assert untimed.seconds is None and "not timed" in untimed.text


def test_membership_inference_is_estimated_on_the_training_set_it_reads_and_a_floor_per_step(team):
    from attacks.cost import STEP_SECONDS, job_work
    from riskapp.artifacts.models import DatasetPurpose

    tiny = {"forward_s": 0.0, "gradient_s": 0.0, "device": "cpu", "threads": 1}  # passes that take no time
    model = ModelArtifact.objects.create(
        project=team.project, name="m", original_name="m", sha256="a" * 64, size=1, file="m", num_classes=10,
        intake={"timing": tiny},
    )  # fmt: skip

    def dataset(letter, samples, purpose=DatasetPurpose.EVALUATION):
        return DatasetArtifact.objects.create(
            project=team.project, name=letter, original_name=letter, sha256=letter * 64, size=1, file=letter,
            purpose=purpose, intake={"samples": samples},
        )  # fmt: skip

    held_out = dataset("b", 300)
    small, large = dataset("c", 200, DatasetPurpose.TRAINING), dataset("d", 2000, DatasetPurpose.TRAINING)

    def estimate(members, limit=0):
        options = {"members_path": members.job_file, "non_members_path": held_out.job_file, "sample_limit": limit}
        return evaluation_estimate(kind="membership_inference", model=model, dataset=held_out, options=options)

    assert estimate(small).seconds < estimate(large).seconds  # more members: bigger shadow training sets
    assert "2,300 samples" in estimate(large).text
    assert estimate(small, limit=100).seconds == estimate(large, limit=100).seconds  # both cut to 100 a set
    # However fast the model, every optimiser step of every shadow costs the floor.
    steps = job_work("membership_inference", {}, samples=2300, num_classes=10, members=2000).steps
    assert estimate(large).seconds == pytest.approx(START_SECONDS + steps * STEP_SECONDS)
    assert steps == 16 * 20 * 32  # 16 shadows, 20 epochs, 14 of 16 shadows train on each record: 2,012 a shadow


def test_durations_read_as_words():
    assert [duration_words(s) for s in (12, 160, 7380)] == ["under a minute", "3 min", "2 h 03 min"]


def test_an_uploaded_model_is_timed_and_the_run_form_shows_the_estimate(team, ready):  # noqa: F811
    assessor, model, dataset = ready
    model.refresh_from_db()
    timing = model.intake["timing"]
    # Measured, so positive; which of the two is longer is not asserted (a loaded machine can invert them).
    assert timing["forward_s"] > 0 and timing["gradient_s"] > 0 and timing["device"] == "cpu"
    # The bfloat16 copy is timed exactly where precision "auto" picks it on this machine.
    from attacks.environment import native_bfloat16

    assert ("bfloat16_gradient_s" in timing) is native_bfloat16()
    assert timing.get("bfloat16_gradient_s", 1.0) > 0
    page = assessor.get(url("model", team, model_id=model.pk)).content.decode()
    assert url("model_estimate", team, model_id=model.pk) in page and 'id="run-estimate"' in page
    fields = {"kind": "attack", "dataset": dataset.pk, "attack": "pgd_linf", "eps": "0.1", "sample_limit": 300}
    response = assessor.get(url("model_estimate", team, model_id=model.pk), fields)
    assert response.status_code == 200
    text = response.content.decode()
    assert text.startswith("At most") and "300 samples" in text
    incomplete = assessor.get(url("model_estimate", team, model_id=model.pk), {"kind": "attack"})
    assert "Complete the test&#x27;s fields" in incomplete.content.decode()


def test_run_the_plan_says_how_long_the_whole_plan_takes_before_queueing_anything(team, client_for):
    from django.urls import reverse

    from riskapp.artifacts.models import IntakeStatus, ModelRole
    from riskapp.assessments import services as assessments
    from riskapp.assessments.plan_runs import model_test_plan_estimate, model_test_plan_runs
    from riskapp.jobs.models import Job

    project = team.project
    assessments.answer_set(actor=team.owner, project=project, question_id="context.uses_pretrained", raw="yes")
    common = {
        "project": project,
        "size": 1,
        "num_classes": 10,
        "status": IntakeStatus.READY,
        "intake": {"timing": TIMING},
    }
    teacher = ModelArtifact.objects.create(
        name="t", original_name="t", sha256="c" * 64, file="t", role=ModelRole.TEACHER, **common
    )
    student = ModelArtifact.objects.create(
        name="s", original_name="s", sha256="a" * 64, file="s", parent=teacher, **common
    )
    dataset = DatasetArtifact.objects.create(
        project=project, name="d", original_name="d", sha256="b" * 64, size=1, file="d", intake={"samples": 2000},
        status=IntakeStatus.READY,
    )  # fmt: skip

    plan = model_test_plan_runs(model=student, dataset=dataset, sample_limit=100)
    assert len(plan.runs) >= 3  # the plan's tests on the student and its teacher, and the default gates' tests
    each = [
        evaluation_estimate(
            kind=run.kind,
            model=run.target,
            dataset=dataset,
            options=run.options,
            teacher=run.target.parent if run.kind in ("transfer_attack", "lineage") else None,
        ).seconds
        for run in plan.runs
    ]
    total = model_test_plan_estimate(plan=plan)
    assert total.seconds == pytest.approx(sum(each)) and total.seconds > START_SECONDS * len(plan.runs)
    assert total.text.startswith(f"{len(plan.runs)} jobs, at most {duration_words(sum(each))}")

    register = client_for(team.assessor).get(reverse("projects:assessments:register", args=[project.pk]))
    estimate_url = reverse("projects:assessments:plan_estimate", args=[project.pk])
    assert estimate_url in register.content.decode() and 'id="plan-estimate"' in register.content.decode()
    fields = {"model": student.pk, "dataset": dataset.pk, "sample_limit": 100}
    fragment = client_for(team.assessor).get(estimate_url, fields).content.decode()
    assert fragment.startswith(f"{len(plan.runs)} jobs, at most")
    assert not Job.objects.filter(project=project).exists()  # nothing queued by asking
    student.intake = {}
    student.save()
    untimed = client_for(team.assessor).get(estimate_url, fields).content.decode()
    assert "No run-time estimate" in untimed and "“s” v1 was not timed" in untimed
    assert client_for(team.viewer).get(estimate_url, fields).status_code == 403
