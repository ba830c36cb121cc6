"""Lineage: per-layer weight change from the teacher, and whether the teacher's triggers survive in the student."""

from typing import Any

from django import forms

from riskapp.artifacts.cards import PreprocessingField
from riskapp.artifacts.models import ModelArtifact
from riskapp.charts import evaluations as figures
from riskapp.evaluations.kinds import fields
from riskapp.evaluations.kinds.base import LINEAGE, TEACHER_FILES, EngineParams, EvaluationKind, PlanJob, PlanLine
from riskapp.evaluations.services import full_scan_measurement, model_params


class LineageParams(EngineParams):
    teacher_id = forms.IntegerField()
    teacher_path = forms.CharField()
    student_path = forms.CharField()
    teacher_preprocessing = PreprocessingField()
    student_preprocessing = PreprocessingField()


def _teacher_params(params: dict[str, Any], teacher: ModelArtifact) -> dict[str, Any]:
    teacher_params = model_params(teacher, "teacher_")
    return {
        "teacher_path": teacher_params["teacher_path"],
        "teacher_preprocessing": teacher_params.get("teacher_preprocessing") or {},
        "student_preprocessing": params["preprocessing"],
    }


def _evidence(result: dict[str, Any], eps: float | None, norm: str) -> dict[str, Any]:
    if not result.get("layers"):
        return {}
    total = sum(layer["parameters"] for layer in result["layers"])
    kept = sum(layer["parameters"] for layer in result["layers"] if layer["status"] in ("frozen", "barely_moved"))
    evidence: dict[str, Any] = {"teacher_similarity": kept / total if total else 0.0}
    if result.get("verdict") in ("inherited", "not_inherited"):
        # The teacher is flagged and the lineage measured the student: the direct answer on inheritance.
        evidence["backdoor_inherited"] = result["verdict"] == "inherited"
    return evidence


def _measurements(result: dict[str, Any], given: dict[str, Any], eps: float | None, norm: str) -> dict[str, Any]:
    if "backdoor_inherited" not in given:
        return {}
    student = result.get("student_scan") or {}
    return {"backdoor_inherited": full_scan_measurement(student, samples=result.get("samples"))}


def _plan(line: PlanLine) -> PlanJob:
    if line.model.parent is None:
        return PlanJob(None, line.model, "the model has no parent (teacher) to compare with")
    options = {"sample_limit": line.sample_limit} | ({"steps": line.backdoor_steps} if line.backdoor_steps else {})
    return PlanJob(options, line.model)


def _present(job: Any, result: dict[str, Any], images: dict[str, str]) -> dict[str, Any]:
    names = ModelArtifact.objects.in_bulk([job.parameters.get("model_id"), job.parameters.get("teacher_id")])
    survival = [
        row | {"trigger_url": images.get(f"teacher-trigger-class-{row['class']}.png")}
        for row in result.get("teacher_trigger_on_student", [])
    ]
    return {
        "layer_figure": figures.layer_change_bars(result["layers"]) if result.get("layers") else None,
        "survival_figure": figures.trigger_survival_bars(survival) if survival else None,
        "survival": survival,
        "teacher": names.get(job.parameters.get("teacher_id")),
        "student": names.get(job.parameters.get("model_id")),
    }


LINEAGE_KIND = EvaluationKind(
    name="lineage",
    label="Lineage",
    description="Per-layer weight change from the teacher and whether its triggers survive in the student.",
    engine_task="lineage",
    form=LineageParams,
    file_params=TEACHER_FILES,
    order=80,
    start_label="Lineage against the teacher",
    run_fields={"teacher": fields.teacher},
    needs_teacher=True,
    teacher_params=_teacher_params,
    evidence=_evidence,
    measurements=_measurements,
    plan=_plan,
    presenter=_present,
    template="lineage",
    facts=frozenset({LINEAGE}),
)
KINDS = (LINEAGE_KIND,)
