"""Start evaluations of a project's models, and turn their results into evidence for the risk register."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact, ModelRole
from riskapp.artifacts.services import check_dataset_labels
from riskapp.assessments.epsilon import DEFAULT_NORM, Budget, budget_from_answers, norm_mismatch
from riskapp.assessments.services import evidence_record
from riskapp.evaluations.kinds import EVALUATION_KINDS, evaluation_kind
from riskapp.jobs.models import Job, JobStatus
from riskapp.jobs.services import job_create

# An attack on the teacher is evidence about what an attacker holding the public teacher can craft (the student's
# transfer evasion), never the student's own robustness. Its white-box and query results become one teacher kind:
# the lower decides, weighed by the attack that measured it.
TEACHER_ROBUSTNESS = ("robust_accuracy", "query_robust_accuracy")


def model_params(model: ModelArtifact, prefix: str = "") -> dict[str, Any]:
    """What the engine needs to load `model` (its stored file and card), its names prefixed."""
    if model.status != IntakeStatus.READY:
        raise ValidationError(f"“{model.name}” has not passed intake yet.")
    return {f"{prefix}path": model.job_file, **model.card_params(prefix)}


def _check_gradients(declared: Any, model: ModelArtifact, params: dict[str, Any]) -> None:
    """Refuse a test that needs the model's gradients on an ONNX model, before it is queued (never a silent
    black-box stand-in)."""
    if model.format == "onnx" and declared.needs_gradients(params):
        raise ValidationError(
            f"{declared.label} needs the model's gradients, and “{model.name}” is an ONNX model, which riskapp runs "
            "with black-box attacks only: choose Square or HopSkipJump, or upload the model's PyTorch weights "
            "(safetensors or a state_dict) to test it white-box."
        )


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
    """Queue an evaluation of `model` on `dataset` (and its `teacher` for the kinds that compare with one)."""
    declared = evaluation_kind(kind)
    if dataset.status != IntakeStatus.READY:
        raise ValidationError(f"“{dataset.name}” has not passed intake yet.")
    if model.project_id != dataset.project_id or (teacher and teacher.project_id != model.project_id):
        raise ValidationError("The models and the dataset must belong to the same project.")
    loading = model_params(model, "model_")
    params: dict[str, Any] = {
        "model_id": model.pk,
        "dataset_id": dataset.pk,
        "model_path": loading["model_path"],
        "arch": loading.get("model_arch", ""),
        "num_classes": loading.get("model_num_classes"),
        "preprocessing": loading.get("model_preprocessing") or {},
        "data_path": dataset.job_file,
        **(options or {}),
    }
    for role in ("suspect", "eval", "triggered"):  # a kind's other datasets: `<role>_id` -> `<role>_path`
        if params.get(f"{role}_id"):
            other = DatasetArtifact.objects.get(pk=params[f"{role}_id"], project=model.project_id)
            params[f"{role}_path"] = other.job_file
    params.pop("suspect_id", None)
    check_dataset_labels(model, dataset)
    _check_gradients(declared, model, params)
    if declared.needs_teacher:
        if teacher is None:
            raise ValidationError("Choose the teacher to compare with.")
        if teacher.pk == model.pk:
            raise ValidationError("The teacher and the student must be different models.")
        params |= {"teacher_id": teacher.pk, "student_path": params["model_path"]}
        params |= declared.teacher_params(params, teacher)
    return job_create(user=actor, project=model.project, kind=kind, parameters=params)


def accuracy_at_eps(attack: dict[str, Any], eps: float, norm: str = DEFAULT_NORM) -> float | None:
    """A minimum-norm attack's accuracy at `eps` in the project's `norm` ("inf" or "2"), read off its distances in
    that norm: an input counts as robust unless the attack found an example for it within ε (with the
    engine's rounding slack, attacks.evasion.metrics.within). An upper bound of robust accuracy, usually loose:
    the attack minimised a distance, it did not search the ε-ball. None for a document without distances."""
    found = attack.get("distances")
    if not isinstance(found, dict) or not attack.get("samples"):
        return None
    values = (found.get("l2" if norm == "2" else "linf") or {}).get("values")
    if not isinstance(values, list) or not isinstance(found.get("attacked"), int):
        return None
    fooled = sum(1 for value in values if value <= eps * (1 + 1e-4) + 1e-6)
    return round((found["attacked"] - fooled) / attack["samples"], 6)


def attack_accuracies(
    result: dict[str, Any], project_eps: float | None, project_norm: str = DEFAULT_NORM
) -> list[tuple[dict[str, Any], float]]:
    """(attack entry, its accuracy at the budget) for each attack of a result that has one: an ε-bounded attack's
    robust accuracy when it ran in the project's norm (another norm is not evidence: epsilon.norm_mismatch), a
    minimum-norm attack's accuracy at `project_eps` read off its distances in the project's norm."""
    from attacks.evasion.attacks import ATTACK_PROPERTIES  # the engine's own table; imports no torch

    rows = []
    for attack in result.get("attacks", []):
        facts = ATTACK_PROPERTIES.get(attack.get("attack"))
        if facts is None:
            continue
        if facts["eps_bounded"] and norm_mismatch(attack, project_norm) is None:
            rows.append((attack, attack["robust_accuracy"]))
        elif not facts["eps_bounded"] and project_eps is not None:
            value = accuracy_at_eps(attack, project_eps, project_norm)
            if value is not None:
                rows.append((attack, value))
    return rows


def evidence_from_result(
    kind: str, result: dict[str, Any], *, project_eps: float | None = None, project_norm: str = DEFAULT_NORM
) -> dict[str, Any]:
    """Evidence kind -> value from an evaluation's result document. A result flagged as not trustworthy
    gives no robustness evidence: it is shown, never counted as robust. A robustness curve speaks at the
    project's stated budget `project_eps`: its point at the largest ε not above it (none if the grid starts
    above it: robustness at a larger ε says nothing good about the budget, and a smaller one nothing bad).
    A minimum-norm attack speaks through its accuracy at `project_eps` (`accuracy_at_eps`). Only results in the
    project's norm `project_norm` ("inf" or "2") speak for its budget at all."""
    declared = EVALUATION_KINDS.get(kind)
    return declared.evidence(result, project_eps, project_norm) if declared else {}


def flagged_side_anomaly_index(scan: dict[str, Any]) -> float:
    """The largest anomaly index among the classes Neural Cleanse could flag (each class's `candidate`: every
    condition of the scan's rule but the threshold), so that the evidence never reads as an anomaly the scan did
    not flag for a reason it states. 0 when no class is a candidate."""
    median = scan.get("median_mask_l1")
    floor = scan.get("relative_floor")

    def candidate(row: dict[str, Any]) -> bool:
        if "candidate" in row:  # the engine's own verdict (attacks.backdoor.cleanse.scan)
            return bool(row["candidate"])
        # Scans stored before the engine reported `candidate`: the same rule, restated here for them only.
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


def measured_as(**values: Any) -> dict[str, Any]:
    """A measurement (how evidence was measured) from the values that are known."""
    return {key: value for key, value in values.items() if value is not None}


def full_scan_measurement(scan: dict[str, Any], *, samples: int | None) -> dict[str, Any]:
    """How a Neural Cleanse scan measured: its steps, whether every class was optimised to the end, inputs."""
    rows = scan.get("classes", [])
    return measured_as(
        steps=scan.get("steps"),
        full_scan=bool(rows) and all(row.get("fully_optimised") for row in rows),
        samples=samples,
    )


def evidence_measurements(
    kind: str, result: dict[str, Any], *, project_eps: float | None = None, project_norm: str = DEFAULT_NORM
) -> dict[str, dict[str, Any]]:
    """Evidence kind -> how it was measured (attacks, steps, query budget per input, inputs measured, clean
    accuracy, full scan): what the evidence rules weigh before a measurement may lower a risk. Only the kinds
    `evidence_from_result` gives for the same result."""
    given = evidence_from_result(kind, result, project_eps=project_eps, project_norm=project_norm)
    declared = EVALUATION_KINDS.get(kind)
    return declared.measurements(result, given, project_eps, project_norm) if declared else {}


def _is_teacher(model: ModelArtifact | None) -> bool:
    """A teacher by its card, or because another model of the project was fine-tuned from it."""
    return model is not None and (model.role == ModelRole.TEACHER or model.students.exists())


def teacher_robustness(
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


def project_budget_of(project) -> Budget:
    """The project's stated attack budget, ε and norm, from its latest assessment version (epsilon.py)."""
    version = project.assessment_versions.order_by("-number").first()
    return budget_from_answers(version.answers if version else {})


def evaluation_finished(*, job: Job) -> None:
    """Attach a succeeded evaluation's measurements to the register as evidence."""
    if job.status != JobStatus.SUCCEEDED or not job.result:
        return
    declared = evaluation_kind(job.kind)
    budget = project_budget_of(job.project)
    evidence = declared.evidence(job.result, budget.eps, budget.norm)
    measurements = declared.measurements(job.result, evidence, budget.eps, budget.norm)
    model = ModelArtifact.objects.filter(pk=job.parameters.get("model_id"), project=job.project_id).first()
    if declared.teacher_evidence is not None and _is_teacher(model):
        evidence, measurements = declared.teacher_evidence(evidence, measurements)
    _evidence_record_all(
        job=job, model=model, evidence=evidence, measurements=measurements, source=f"{job.kind} job {job.pk}"
    )


def _evidence_record_all(
    *, job: Job, model: ModelArtifact | None, evidence: dict[str, Any], measurements: dict[str, Any], source: str
) -> None:
    """Record each of a job's evidence kinds on `model`, with how it was measured."""
    for kind, value in evidence.items():
        evidence_record(
            project=job.project,
            kind=kind,
            value=value,
            source=source,
            job=job,
            model=model,
            measurement=measurements.get(kind),
        )


def _next_version(model: ModelArtifact) -> str:
    """The version after `model`'s: one above the highest whole-number version of its name in the project, or
    `<version>-hardened` when its versions are not numbers."""
    if not model.version.isdigit():
        return f"{model.version}-hardened"
    versions = ModelArtifact.objects.filter(project=model.project_id, name=model.name).values_list("version", flat=True)
    return str(max(int(v) for v in versions if v.isdigit()) + 1)


def _hardened_evidence(result: dict[str, Any], budget: Budget) -> tuple[dict[str, Any], dict[str, Any]]:
    """The "after" numbers the evidence rules accept: robust accuracy from an adversarial method, at an ε not
    below the project's and in its norm. Trigger success has no evidence kind of its own: it stays on the page."""
    settings = result.get("parameters") or {}
    robust = (result.get("after") or {}).get("robust_accuracy")
    eps, norm = settings.get("eps"), settings.get("norm")
    if not robust or robust.get("value") is None or eps is None or norm != budget.norm:
        return {}, {}
    if budget.eps is not None and eps < budget.eps * (1 - 1e-9):
        return {}, {}
    # The full cascade is AutoAttack (the rules' strongest tier); APGD-CE + APGD-T alone is not a tier of its own.
    attacks = ["autoattack"] if settings.get("robust_evaluation") == "autoattack" else ["apgd_ce", "apgd_t"]
    measurement = measured_as(
        attacks=attacks,
        steps=settings.get("eval_steps"),
        samples=robust.get("samples"),
        clean_accuracy=((result.get("after") or {}).get("clean_accuracy") or {}).get("value"),
    )
    return {"robust_accuracy": robust["value"]}, {"robust_accuracy": measurement}


def hardening_finished(*, job: Job) -> ModelArtifact | None:
    """A succeeded hardening job's weights become a new version of its model, taken in like an upload (scanned,
    converted): same card, the next version, the source as previous version, the source's teacher as parent, and
    the result's `card` as provenance. Its "after" numbers become evidence on it where the rules accept them."""
    from django.core.files import File

    from riskapp.artifacts.services import DuplicateUpload, artifact_take_in
    from riskapp.audit.services import audit_record
    from riskapp.jobs.models import JobFile
    from riskapp.storage import content_sha256

    if job.status != JobStatus.SUCCEEDED or not job.result:
        return None
    source = ModelArtifact.objects.filter(pk=job.parameters.get("model_id"), project=job.project_id).first()
    stored = JobFile.objects.filter(job=job, name="hardened.safetensors").first()
    if source is None or stored is None:
        return None
    card = {
        "name": source.name,
        "version": _next_version(source),
        "role": source.role,
        "architecture": source.architecture,
        "num_classes": source.num_classes,
        "parent": source.parent,
        "previous_version": source,
        "teacher_name": source.teacher_name,
        "teacher_url": source.teacher_url,
        "teacher_sha256": source.teacher_sha256,
        "teacher_licence": source.teacher_licence,
        "input_shape": source.input_shape,
        "class_names": source.class_names,
        "preprocessing": source.preprocessing,
        "input_min": source.input_min,
        "input_max": source.input_max,
        "provenance": dict(job.result.get("card") or {}, job_id=job.pk, source_model_id=source.pk),
    }
    with stored.file.open("rb") as handle:
        upload = File(handle, name="hardened.safetensors")
        try:
            model = artifact_take_in(
                ModelArtifact,
                actor=job.created_by,
                project=job.project,
                upload=upload,
                sha256=content_sha256(upload),
                fields=card,
            )
        except DuplicateUpload as duplicate:  # the same weights again (a re-run with the same seed): no new version
            return duplicate.existing
    audit_record(
        actor=job.created_by,
        action="model.hardened",
        target=model,
        project_id=job.project_id,
        after={"job": job.pk, "source_model": source.pk, "method": job.result.get("method"), "version": model.version},
    )
    evidence, measurements = _hardened_evidence(job.result, project_budget_of(job.project))
    _evidence_record_all(
        job=job, model=model, evidence=evidence, measurements=measurements, source=f"hardening job {job.pk} (after)"
    )
    return model
