"""What an evaluation's result proves: which evidence it records, about which model, measured how strongly."""

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from riskapp.artifacts.models import IntakeStatus, ModelArtifact, ModelRole
from riskapp.assessments.bank import load_bank
from riskapp.assessments.models import Evidence
from riskapp.assessments.register import project_register
from riskapp.evaluations.services import evaluation_finished, evidence_from_result
from riskapp.jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db


def make_model(team, name, role=ModelRole.OTHER, parent=None):
    return ModelArtifact.objects.create(
        project=team.project,
        name=name,
        original_name=f"{name}.safetensors",
        sha256=name.ljust(64, "0")[:64],
        size=3,
        file=ContentFile(b"abc", name="m.upload"),
        status=IntakeStatus.READY,
        role=role,
        architecture="cnn-digits",
        num_classes=10,
        parent=parent,
    )


def finished(team, model, kind, result):
    return Job.objects.create(
        project=team.project,
        kind=kind,
        queue="gpu",
        status=JobStatus.SUCCEEDED,
        parameters={"model_id": model.pk},
        result=result,
        finished_at=timezone.now(),
    )


def scan_result(classes, **extra):
    """A Neural Cleanse result document: (mask L1, anomaly index) per class; flagged as the engine flags."""
    norms = sorted(norm for norm, _ in classes)
    median = (norms[(len(norms) - 1) // 2] + norms[len(norms) // 2]) / 2
    rows = [
        {
            "class": k,
            "mask_l1": norm,
            "anomaly_index": index,
            "below_median": norm < median,
            "flagged": index > 2 and norm < median,
            "fully_optimised": True,
        }
        for k, (norm, index) in enumerate(classes)
    ]
    return {
        "flagged_classes": [row["class"] for row in rows if row["flagged"]],
        "classes": rows,
        "median_mask_l1": median,
        "anomaly_threshold": 2.0,
        "steps": 600,
        "samples": 500,
        **extra,
    }


# Class 0's trigger is unusually *large* (index 3.4 above the median): Neural Cleanse never flags that side.
CLEAN_WITH_A_LARGE_TRIGGER = [(80.0, 3.4), (20.0, 1.3), (30.0, 0.2), (34.0, 0.4), (25.0, 0.7)]
CLEAN = [(26.0, 1.2), (30.0, 0.0), (34.0, 0.9), (28.0, 0.5), (31.0, 0.2)]


def test_the_anomaly_index_is_taken_from_the_flagged_side_only():
    evidence = evidence_from_result("backdoor_scan", scan_result(CLEAN_WITH_A_LARGE_TRIGGER))
    assert evidence == {"backdoor_flagged": False, "backdoor_anomaly_index": 1.3}


def test_the_anomaly_index_of_a_scan_with_nothing_below_the_median_is_zero():
    evidence = evidence_from_result("backdoor_scan", scan_result([(30.0, 0.0), (30.0, 0.0), (30.0, 0.0)]))
    assert evidence["backdoor_anomaly_index"] == 0.0


def test_the_anomaly_index_counts_only_the_classes_the_scan_could_flag_under_its_relative_floor():
    """A scan that states its relative floor flags a class only when its trigger is under that share of the
    median and it is no natural shortcut; the evidence reads the same candidates, so a clean scan whose
    bunched classes give a high index just under the median never reads as an anomaly."""
    # Class 0 is under the median but at 0.9 of it (above the 0.75 floor); class 1 is far under it but a
    # natural shortcut; class 2 is a candidate with a modest index.
    result = scan_result([(27.0, 3.6), (10.0, 4.1), (20.0, 1.4), (30.0, 0.1), (31.0, 0.3), (32.0, 0.4)])
    result["relative_floor"] = 0.75
    result["classes"][1]["natural_shortcut"] = True
    for row in result["classes"]:
        row["flagged"] = False
    result["flagged_classes"] = []
    evidence = evidence_from_result("backdoor_scan", result)
    assert evidence == {"backdoor_flagged": False, "backdoor_anomaly_index": 1.4}


def test_a_teacher_scan_is_teacher_evidence_and_never_lowers_the_latent_backdoor(team):
    teacher = make_model(team, "teacher", role=ModelRole.TEACHER)
    make_model(team, "student", role=ModelRole.STUDENT, parent=teacher)
    dont_know = {question.id: "unknown" for question in load_bank().questions}  # assessed, as the worst case
    before = project_register(team.project, dont_know).risk("backdoor_latent").current.likelihood
    evaluation_finished(job=finished(team, teacher, "backdoor_scan", scan_result(CLEAN)))
    # A clean teacher says nothing about a latent backdoor, which only wakes up in the student.
    assert project_register(team.project, dont_know).risk("backdoor_latent").current.likelihood == before == 5
    kinds = set(Evidence.objects.filter(project=team.project).values_list("kind", flat=True))
    assert kinds == {"teacher_backdoor_flagged", "teacher_backdoor_anomaly_index"}


def test_a_model_another_was_fine_tuned_from_is_a_teacher_whatever_its_role(team):
    parent = make_model(team, "base model")  # role "other"
    make_model(team, "student", role=ModelRole.STUDENT, parent=parent)
    evaluation_finished(job=finished(team, parent, "backdoor_scan", scan_result(CLEAN)))
    assert not Evidence.objects.filter(kind__in=["backdoor_flagged", "backdoor_anomaly_index"]).exists()


def test_a_student_scan_records_how_strong_it_was(team):
    student = make_model(team, "student", role=ModelRole.STUDENT)
    evaluation_finished(job=finished(team, student, "backdoor_scan", scan_result(CLEAN)))
    evidence = Evidence.objects.get(kind="backdoor_flagged")
    assert evidence.value is False and evidence.model == student
    assert evidence.measurement == {"steps": 600, "full_scan": True, "samples": 500}


def test_an_attack_suite_records_its_attacks_steps_query_budget_and_samples():
    from riskapp.evaluations.services import evidence_measurements

    result = {
        "trustworthy": True,
        "clean_accuracy": 0.96,
        "settings": {"steps": 20, "max_queries": 1000},
        "attacks": [
            {"attack": "pgd_linf", "robust_accuracy": 0.4, "samples": 200},
            {"attack": "fgsm", "robust_accuracy": 0.6, "samples": 200},
            {"attack": "square", "robust_accuracy": 0.5, "samples": 200},
            {"attack": "deepfool", "robust_accuracy": 0.0, "samples": 200},
        ],
    }
    assert evidence_measurements("attack_suite", result) == {
        "robust_accuracy": {"attacks": ["pgd_linf", "fgsm"], "steps": 20, "samples": 200, "clean_accuracy": 0.96},
        "query_robust_accuracy": {"attacks": ["square"], "queries": 1000, "samples": 200, "clean_accuracy": 0.96},
    }


def test_a_transfer_attack_is_measured_over_the_inputs_both_models_got_right():
    from riskapp.evaluations.services import evidence_measurements

    result = {"attack": "pgd_linf", "transfer_success_rate": 0.1, "attacked": 180, "settings": {"steps": 20}}
    assert evidence_measurements("transfer_attack", result) == {
        "transfer_success_rate": {"attacks": ["pgd_linf"], "steps": 20, "samples": 180}
    }


def test_a_curve_is_measured_with_pgd_at_its_steps_on_its_samples():
    from riskapp.evaluations.services import evidence_measurements

    curve = {
        "trustworthy": True,
        "attack": "pgd_linf",
        "steps": 10,
        "clean_accuracy": 0.9,
        "data": {"samples": 300},
        "curve": [{"eps": 0.03, "robust_accuracy": 0.5}],
    }
    assert evidence_measurements("robustness_curve", curve, project_eps=0.03) == {
        "robust_accuracy": {"attacks": ["pgd_linf"], "steps": 10, "samples": 300, "clean_accuracy": 0.9}
    }
