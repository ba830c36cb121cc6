"""Start evaluations of a project's models, and turn their results into evidence for the risk register."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact, ModelRole
from riskapp.assessments.services import evidence_record
from riskapp.jobs.models import Job, JobStatus
from riskapp.jobs.services import job_create

# An ε-bounded attack measures robust accuracy at its ε. A minimum-norm attack (cw_l2, deepfool, hopskipjump)
# measures how far each input had to move: its accuracy at the project's ε is read off those distances.
EPS_BOUNDED = {"fgsm", "pgd_linf", "pgd_l2", "autoattack", "square"}
MIN_NORM = {"cw_l2", "deepfool", "hopskipjump"}
BLACK_BOX = {"square", "hopskipjump"}
# A scan of a teacher is evidence about what the student may inherit, never about the student itself: its
# findings are recorded under the teacher's own kinds, which the evidence rules weigh as such (a clean teacher
# says nothing about a latent backdoor, which only wakes up in the student).
TEACHER_EVIDENCE = {
    "backdoor_flagged": "teacher_backdoor_flagged",
    "backdoor_anomaly_index": "teacher_backdoor_anomaly_index",
}
# Likewise an attack on the teacher is evidence about what an attacker holding the public teacher can craft (the
# student's transfer evasion), never the student's own robustness. Its white-box and query results become one
# teacher kind: the lower decides, weighed by the attack that measured it.
TEACHER_ROBUSTNESS = ("robust_accuracy", "query_robust_accuracy")


def _model_params(model: ModelArtifact, prefix: str = "") -> dict[str, Any]:
    if model.status != IntakeStatus.READY:
        raise ValidationError(f"“{model.name}” has not passed intake yet.")
    return {f"{prefix}path": model.job_file, **model.card_params(prefix)}


@transaction.atomic
def evaluation_start(
    *,
    actor: AbstractBaseUser,
    kind: str,
    model: ModelArtifact,
    dataset: DatasetArtifact,
    teacher: ModelArtifact | None = None,
    options: dict[str, Any] | None = None,
) -> Job:
    """Queue an evaluation of `model` on `dataset` (and its `teacher` for transfer and lineage)."""
    if dataset.status != IntakeStatus.READY:
        raise ValidationError(f"“{dataset.name}” has not passed intake yet.")
    if model.project_id != dataset.project_id or (teacher and teacher.project_id != model.project_id):
        raise ValidationError("The models and the dataset must belong to the same project.")
    model_params = _model_params(model, "model_")
    params: dict[str, Any] = {
        "model_id": model.pk,
        "dataset_id": dataset.pk,
        "model_path": model_params["model_path"],
        "arch": model_params.get("model_arch", ""),
        "num_classes": model_params.get("model_num_classes"),
        "preprocessing": model_params.get("model_preprocessing") or {},
        "data_path": dataset.job_file,
        **(options or {}),
    }
    suspect_id = params.pop("suspect_id", None)
    if suspect_id:
        suspect = DatasetArtifact.objects.get(pk=suspect_id, project=model.project_id)
        params["suspect_path"] = suspect.job_file
    if kind in ("transfer_attack", "lineage"):
        if teacher is None:
            raise ValidationError("Choose the teacher to compare with.")
        if teacher.pk == model.pk:
            raise ValidationError("The teacher and the student must be different models.")
        params |= {"teacher_id": teacher.pk, "student_path": params["model_path"]}
        if kind == "transfer_attack":
            params |= _model_params(teacher, "teacher_") | {
                "student_arch": params["arch"],
                "student_num_classes": params["num_classes"],
                "student_preprocessing": params["preprocessing"],
            }
        else:
            teacher_params = _model_params(teacher, "teacher_")
            params["teacher_path"] = teacher_params["teacher_path"]
            params["teacher_preprocessing"] = teacher_params.get("teacher_preprocessing") or {}
            params["student_preprocessing"] = params["preprocessing"]
    return job_create(user=actor, project=model.project, kind=kind, parameters=params)


# The project's stated attack budget when the questionnaire does not give one (as in the test plan's rules).
DEFAULT_PROJECT_EPS = 0.03


def accuracy_at_eps(attack: dict[str, Any], eps: float) -> float | None:
    """A minimum-norm attack's accuracy at L∞ `eps` (the project's budget is a change per input value), read off
    its distances: an input counts as robust unless the attack found an example for it within ε (with the
    engine's rounding slack, attacks.evasion.metrics.within). An upper bound of robust accuracy, usually loose:
    the attack minimised a distance, it did not search the ε-ball. None for a document without distances."""
    found = attack.get("distances")
    if not isinstance(found, dict) or not attack.get("samples"):
        return None
    values = (found.get("linf") or {}).get("values")
    if not isinstance(values, list) or not isinstance(found.get("attacked"), int):
        return None
    fooled = sum(1 for value in values if value <= eps * (1 + 1e-4) + 1e-6)
    return round((found["attacked"] - fooled) / attack["samples"], 6)


def attack_accuracies(result: dict[str, Any], project_eps: float | None) -> list[tuple[dict[str, Any], float]]:
    """(attack entry, its accuracy at the budget) for each attack of a result that has one: an ε-bounded attack's
    robust accuracy, a minimum-norm attack's accuracy at `project_eps` read off its distances."""
    rows = []
    for attack in result.get("attacks", []):
        if attack.get("attack") in EPS_BOUNDED:
            rows.append((attack, attack["robust_accuracy"]))
        elif attack.get("attack") in MIN_NORM and project_eps is not None:
            value = accuracy_at_eps(attack, project_eps)
            if value is not None:
                rows.append((attack, value))
    return rows


def evidence_from_result(kind: str, result: dict[str, Any], *, project_eps: float | None = None) -> dict[str, Any]:
    """Evidence kind -> value from an evaluation's result document. A result flagged as not trustworthy
    gives no robustness evidence: it is shown, never counted as robust. A robustness curve speaks at the
    project's stated budget `project_eps`: its point at the largest ε not above it (none if the grid starts
    above it: robustness at a larger ε says nothing good about the budget, and a smaller one nothing bad).
    A minimum-norm attack speaks through its accuracy at `project_eps` (`accuracy_at_eps`)."""
    evidence: dict[str, Any] = {}
    if kind == "robustness_curve" and result.get("trustworthy", False) and project_eps is not None:
        points = [p for p in result.get("curve", []) if p["eps"] <= project_eps * (1 + 1e-9)]
        if points:
            evidence["robust_accuracy"] = max(points, key=lambda p: p["eps"])["robust_accuracy"]
    elif kind in ("attack", "attack_suite") and result.get("trustworthy", False):
        measured = attack_accuracies(result, project_eps)
        white = [value for a, value in measured if a["attack"] not in BLACK_BOX]
        black = [value for a, value in measured if a["attack"] in BLACK_BOX]
        if white:
            evidence["robust_accuracy"] = min(white)
        if black:
            evidence["query_robust_accuracy"] = min(black)
    elif kind == "transfer_attack" and result.get("transfer_success_rate") is not None:
        evidence["transfer_success_rate"] = result["transfer_success_rate"]
    elif kind == "backdoor_scan" and "flagged_classes" in result:
        evidence["backdoor_flagged"] = bool(result["flagged_classes"])
        if result.get("classes"):
            evidence["backdoor_anomaly_index"] = flagged_side_anomaly_index(result)
    elif kind == "strip" and result.get("suspect") and result["suspect"].get("count"):
        evidence["strip_flagged_fraction"] = result["suspect"]["flagged"] / result["suspect"]["count"]
    elif kind == "data_scan" and result.get("samples"):
        suspected = set(result.get("suspected_classes", []))
        flagged = sum(
            len(c["spectral_signatures"]["flagged_indices"])
            for c in result.get("classes", [])
            if c["class"] in suspected
        )
        evidence["poison_suspect_fraction"] = flagged / result["samples"]
    elif kind == "lineage" and result.get("layers"):
        total = sum(layer["parameters"] for layer in result["layers"])
        kept = sum(layer["parameters"] for layer in result["layers"] if layer["status"] in ("frozen", "barely_moved"))
        evidence["teacher_similarity"] = kept / total if total else 0.0
        if result.get("verdict") in ("inherited", "not_inherited"):
            # The teacher is flagged and the lineage measured the student: the direct answer on inheritance.
            evidence["backdoor_inherited"] = result["verdict"] == "inherited"
    return evidence


def flagged_side_anomaly_index(scan: dict[str, Any]) -> float:
    """The largest anomaly index among the classes Neural Cleanse could flag: those whose reversed trigger is
    smaller than the median (an unusually large trigger is no sign of a backdoor), and, in scans that state a
    relative floor (`relative_floor`), smaller than that share of the median and not a natural shortcut: the
    same candidates as the scan's own flags, so that the evidence never reads as an anomaly the scan did not
    flag for a reason it states. 0 when no class is a candidate."""
    median = scan.get("median_mask_l1")
    floor = scan.get("relative_floor")

    def candidate(row: dict[str, Any]) -> bool:
        norm = row.get("mask_l1")
        if floor is not None and median is not None and norm is not None:
            return norm < floor * median and not row.get("natural_shortcut", False)
        if "below_median" in row:
            return bool(row["below_median"])
        return median is not None and norm is not None and norm < median

    rows = scan.get("classes", [])
    return max(
        (row["anomaly_index"] for row in rows if row.get("anomaly_index") is not None and candidate(row)),
        default=0.0,
    )


def _present(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def evidence_measurements(
    kind: str, result: dict[str, Any], *, project_eps: float | None = None
) -> dict[str, dict[str, Any]]:
    """Evidence kind -> how it was measured (attacks, steps, query budget per input, inputs measured, clean
    accuracy, full scan): what the evidence rules weigh before a measurement may lower a risk. Only the kinds
    `evidence_from_result` gives for the same result."""
    given = evidence_from_result(kind, result, project_eps=project_eps)
    settings = result.get("settings") or {}
    measured: dict[str, dict[str, Any]] = {}
    if kind in ("attack", "attack_suite"):
        measured_attacks = [a for a, _ in attack_accuracies(result, project_eps)]
        samples = max((a.get("samples") or 0 for a in measured_attacks), default=0) or None
        clean = result.get("clean_accuracy")
        white = [a["attack"] for a in measured_attacks if a["attack"] not in BLACK_BOX]
        black = [a["attack"] for a in measured_attacks if a["attack"] in BLACK_BOX]
        if "robust_accuracy" in given:
            # A suite's robust accuracy is its lowest: as strong as its strongest attack, so all are listed.
            measured["robust_accuracy"] = _present(
                attacks=white, steps=settings.get("steps"), samples=samples, clean_accuracy=clean
            )
        if "query_robust_accuracy" in given:
            measured["query_robust_accuracy"] = _present(
                attacks=black, queries=settings.get("max_queries"), samples=samples, clean_accuracy=clean
            )
    elif kind == "robustness_curve" and "robust_accuracy" in given:
        measured["robust_accuracy"] = _present(
            attacks=[result.get("attack", "pgd_linf")],
            steps=result.get("steps", settings.get("steps")),
            samples=(result.get("data") or {}).get("samples"),
            clean_accuracy=result.get("clean_accuracy"),
        )
    elif kind == "transfer_attack" and "transfer_success_rate" in given:
        # Transfer success counts the inputs both models classify correctly: those are its sample.
        measured["transfer_success_rate"] = _present(
            attacks=[result["attack"]] if result.get("attack") else None,
            steps=settings.get("steps"),
            samples=result.get("attacked"),
        )
    elif kind == "backdoor_scan":
        rows = result.get("classes", [])
        scan = _present(
            steps=result.get("steps"),
            full_scan=bool(rows) and all(row.get("fully_optimised") for row in rows),
            samples=result.get("samples"),
        )
        measured = {name: dict(scan) for name in given}
    elif kind == "lineage" and "backdoor_inherited" in given:
        student = result.get("student_scan") or {}
        rows = student.get("classes", [])
        measured["backdoor_inherited"] = _present(
            steps=student.get("steps"),
            full_scan=bool(rows) and all(row.get("fully_optimised") for row in rows),
            samples=result.get("samples"),
        )
    return measured


def _is_teacher(model: ModelArtifact | None) -> bool:
    """A teacher by its card, or because another model of the project was fine-tuned from it."""
    return model is not None and (model.role == ModelRole.TEACHER or model.students.exists())


def _teacher_robustness(
    evidence: dict[str, Any], measurements: dict[str, dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A teacher's robustness evidence as `teacher_robust_accuracy`: the lowest of its white-box and query
    results, with the measurement of the attack that gave it (so a query attack cannot lower what it measured)."""
    found = [(evidence[kind], kind) for kind in TEACHER_ROBUSTNESS if kind in evidence]
    if not found:
        return evidence, measurements
    value, decisive = min(found, key=lambda pair: pair[0])
    rest = {kind: v for kind, v in evidence.items() if kind not in TEACHER_ROBUSTNESS}
    rest_measured = {kind: m for kind, m in measurements.items() if kind not in TEACHER_ROBUSTNESS}
    if decisive in measurements:
        rest_measured["teacher_robust_accuracy"] = measurements[decisive]
    return rest | {"teacher_robust_accuracy": value}, rest_measured


def project_eps_of(project) -> float:
    """The project's stated attack budget (requirements.input_eps of its latest assessment version)."""
    version = project.assessment_versions.order_by("-number").first()
    value = (version.answers if version else {}).get("requirements.input_eps")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else DEFAULT_PROJECT_EPS


def evaluation_finished(*, job: Job) -> None:
    """Attach a succeeded evaluation's measurements to the register as evidence."""
    if job.status != JobStatus.SUCCEEDED or not job.result:
        return
    project_eps = project_eps_of(job.project)
    evidence = evidence_from_result(job.kind, job.result, project_eps=project_eps)
    measurements = evidence_measurements(job.kind, job.result, project_eps=project_eps)
    model = ModelArtifact.objects.filter(pk=job.parameters.get("model_id"), project=job.project_id).first()
    if job.kind == "backdoor_scan" and _is_teacher(model):
        evidence = {TEACHER_EVIDENCE.get(kind, kind): value for kind, value in evidence.items()}
        measurements = {TEACHER_EVIDENCE.get(kind, kind): value for kind, value in measurements.items()}
    elif job.kind in ("attack", "attack_suite", "robustness_curve") and _is_teacher(model):
        evidence, measurements = _teacher_robustness(evidence, measurements)
    for kind, value in evidence.items():
        evidence_record(
            project=job.project,
            kind=kind,
            value=value,
            source=f"{job.kind} job {job.pk}",
            job=job,
            model=model,
            measurement=measurements.get(kind),
        )
