"""A transfer attack: adversarial examples crafted on the teacher, replayed against the student."""

from typing import Any

from django import forms

from riskapp.artifacts.cards import PreprocessingField
from riskapp.artifacts.models import ModelArtifact
from riskapp.assessments.plan import engine_attack
from riskapp.charts import evaluations as figures
from riskapp.evaluations.kinds import fields
from riskapp.evaluations.kinds.base import TEACHER_FILES, TRANSFER, EvaluationKind, PlanJob, PlanLine
from riskapp.evaluations.kinds.evasion import (
    EvasionParams,
    attack_options,
    evasion_check,
    plan_norm,
    ran_planned_attacks,
)
from riskapp.evaluations.results import uncertainty
from riskapp.evaluations.services import measured_as, model_params


class TransferParams(EvasionParams):
    teacher_id = forms.IntegerField()
    teacher_path = forms.CharField()
    teacher_arch = forms.CharField(required=False)
    teacher_num_classes = forms.IntegerField(required=False, min_value=2)
    student_path = forms.CharField()
    student_arch = forms.CharField(required=False)
    student_num_classes = forms.IntegerField(required=False, min_value=2)
    teacher_preprocessing = PreprocessingField()
    student_preprocessing = PreprocessingField()


def _teacher_params(params: dict[str, Any], teacher: ModelArtifact) -> dict[str, Any]:
    return model_params(teacher, "teacher_") | {
        "student_arch": params["arch"],
        "student_num_classes": params["num_classes"],
        "student_preprocessing": params["preprocessing"],
    }


def _evidence(result: dict[str, Any], eps: float | None, norm: str) -> dict[str, Any]:
    rate = result.get("transfer_success_rate")
    return {"transfer_success_rate": rate} if rate is not None else {}


def _measurements(result: dict[str, Any], given: dict[str, Any], eps: float | None, norm: str) -> dict[str, Any]:
    if "transfer_success_rate" not in given:
        return {}
    settings = result.get("settings") or {}
    # Transfer success counts the inputs both models classify correctly: those are its sample.
    return {
        "transfer_success_rate": measured_as(
            attacks=[result["attack"]] if result.get("attack") else None,
            steps=settings.get("steps"),
            samples=result.get("attacked"),
        )
    }


def _plan(line: PlanLine) -> PlanJob:
    p = line.params
    if line.model.parent is None:
        return PlanJob(None, line.model, "the model has no parent (teacher) to craft the attack on")
    attacks = [engine_attack(p.get("attack", "pgd"), p.get("norm"))]
    options = {"sample_limit": line.sample_limit, "attacks": attacks, "eps": p["eps"]} | plan_norm(p)
    return PlanJob(options | ({"steps": p["steps"]} if p.get("steps") else {}), line.model)


def _present(job: Any, result: dict[str, Any], images: dict[str, str]) -> dict[str, Any]:
    names = ModelArtifact.objects.in_bulk([job.parameters.get("model_id"), job.parameters.get("teacher_id")])
    return {
        "figure": figures.transfer_bars(result) if result.get("transfer_success_rate") is not None else None,
        "teacher": names.get(job.parameters.get("teacher_id")),
        "student": names.get(job.parameters.get("model_id")),
        "transfer_ci": uncertainty(result.get("transfer_success_rate"), result.get("attacked")),
    }


TRANSFER_ATTACK = EvaluationKind(
    name="transfer_attack",
    label="Transfer attack",
    description="Adversarial examples crafted on the teacher, replayed against the student.",
    engine_task="transfer",
    form=TransferParams,
    file_params=TEACHER_FILES,
    order=40,
    start_label="Transfer attack from the teacher",
    run_fields={"teacher": fields.teacher, "attack": fields.attack, "eps": fields.eps, "norm": fields.norm},
    run_check=evasion_check(one_eps=True, needs_attack=True),
    run_options=attack_options,
    needs_teacher=True,
    teacher_params=_teacher_params,
    evidence=_evidence,
    measurements=_measurements,
    plan=_plan,
    needs_gradients=lambda options: False,  # crafted on the teacher
    ran_planned=ran_planned_attacks("attack"),
    presenter=_present,
    template="transfer_attack",
    facts=frozenset({TRANSFER}),
)
KINDS = (TRANSFER_ATTACK,)
