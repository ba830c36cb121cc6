"""Neural Cleanse: the smallest trigger that sends every input to a class; a class whose trigger is unusually small
is flagged. Its flags decide the no-backdoor gate and the ship verdict's backdoor reasons."""

from typing import Any

from django import forms

from riskapp.charts import evaluations as figures
from riskapp.evaluations.kinds.base import (
    BACKDOOR_CHECK,
    GATE_BACKDOOR_SCAN,
    MODEL_FILES,
    NEURAL_CLEANSE,
    EngineParams,
    EvaluationKind,
    PlanJob,
    PlanLine,
)
from riskapp.evaluations.results import backdoor_verdict
from riskapp.evaluations.services import flagged_side_anomaly_index, full_scan_measurement

# A scan of a teacher is evidence about what the student may inherit, never about the student itself: its
# findings are recorded under the teacher's own kinds, which the evidence rules weigh as such (a clean teacher
# says nothing about a latent backdoor, which only wakes up in the student).
TEACHER_EVIDENCE = {
    "backdoor_flagged": "teacher_backdoor_flagged",
    "backdoor_anomaly_index": "teacher_backdoor_anomaly_index",
}
MAX_RESTARTS = 8  # the engine's limit (attacks.backdoor.cleanse's task parameters)


def _cost_schedules() -> tuple[str, ...]:
    from attacks.backdoor.cleanse import COST_SCHEDULES  # the engine's own names; imports no torch

    return COST_SCHEDULES


class BackdoorScanParams(EngineParams):
    cost_schedule = forms.CharField(required=False)  # the engine checks the name (fixed or adaptive)
    restarts = forms.IntegerField(required=False, min_value=1, max_value=MAX_RESTARTS)


def cost_schedule_field() -> forms.Field:
    return forms.ChoiceField(
        choices=[("", "Engine default (fixed)")] + [(name, name) for name in sorted(_cost_schedules(), reverse=True)],
        required=False,
        label="Cost schedule",
        help_text="How Neural Cleanse weighs the trigger's size: fixed, or adaptive (raised and lowered as it goes).",
        error_messages={"invalid_choice": "%(value)s is not a cost schedule; choose fixed or adaptive."},
    )


def restarts_field() -> forms.Field:
    return forms.IntegerField(
        min_value=1,
        max_value=MAX_RESTARTS,
        required=False,
        help_text="Starting points per class (more finds smaller triggers, and costs more). Blank: 1.",
    )


def _options(data: dict[str, Any], model: Any) -> dict[str, Any]:
    return {name: data[name] for name in ("cost_schedule", "restarts") if data.get(name)}


def _evidence(result: dict[str, Any], eps: float | None, norm: str) -> dict[str, Any]:
    if "flagged_classes" not in result:
        return {}
    evidence: dict[str, Any] = {"backdoor_flagged": bool(result["flagged_classes"])}
    if result.get("classes"):
        evidence["backdoor_anomaly_index"] = flagged_side_anomaly_index(result)
    return evidence


def _measurements(result: dict[str, Any], given: dict[str, Any], eps: float | None, norm: str) -> dict[str, Any]:
    scan = full_scan_measurement(result, samples=result.get("samples"))
    return {name: dict(scan) for name in given}


def _as_teacher(evidence: dict, measurements: dict) -> tuple[dict, dict]:
    return (
        {TEACHER_EVIDENCE.get(kind, kind): value for kind, value in evidence.items()},
        {TEACHER_EVIDENCE.get(kind, kind): value for kind, value in measurements.items()},
    )


def _on_teacher(planned: dict[str, Any]) -> bool:
    return planned.get("target") == "teacher"


def _plan(line: PlanLine) -> PlanJob:
    options = {"sample_limit": line.sample_limit} | ({"steps": line.backdoor_steps} if line.backdoor_steps else {})
    if _on_teacher(line.params):
        if line.model.parent is None:
            return PlanJob(None, line.model, "the model has no parent (teacher) to scan")
        return PlanJob(options, line.model.parent)
    return PlanJob(options, line.model)


def _present(job: Any, result: dict[str, Any], images: dict[str, str]) -> dict[str, Any]:
    classes = [c | {"trigger_url": images.get(c.get("trigger_image", ""))} for c in result.get("classes", [])]
    return {
        "figure": figures.anomaly_bars(classes, result.get("anomaly_threshold", 2.0)) if classes else None,
        "classes": classes,
        "flagged": [c for c in classes if c.get("flagged")],
        "shortcuts": [c for c in classes if c.get("natural_shortcut") and c.get("anomalous")],
        "backdoor_verdict": backdoor_verdict(job),
    }


BACKDOOR_SCAN = EvaluationKind(
    name="backdoor_scan",
    label="Backdoor scan",
    description="Neural Cleanse: the smallest trigger per class; a class with anomaly index above 2 is flagged.",
    engine_task="backdoor_scan",
    form=BackdoorScanParams,
    file_params=MODEL_FILES,
    order=50,
    start_label="Backdoor scan (Neural Cleanse)",
    run_fields={"cost_schedule": cost_schedule_field, "restarts": restarts_field},
    run_options=_options,
    evidence=_evidence,
    measurements=_measurements,
    teacher_evidence=_as_teacher,
    plan=_plan,
    plan_on_teacher=_on_teacher,
    presenter=_present,
    template="backdoor_scan",
    facts=frozenset({NEURAL_CLEANSE, BACKDOOR_CHECK, GATE_BACKDOOR_SCAN}),
    verdict_slot="backdoor_scan",
)
KINDS = (BACKDOOR_SCAN,)
