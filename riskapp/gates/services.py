"""Writes of quality gates (audited), and queuing a model's test plan for CI."""

import json
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from riskapp.artifacts.models import DatasetArtifact, DatasetPurpose, IntakeStatus, ModelArtifact
from riskapp.artifacts.services import validation_start
from riskapp.assessments.bank import load_bank
from riskapp.assessments.plan import engine_attack, recommended_plan
from riskapp.assessments.selectors import assessment_latest
from riskapp.audit.services import audit_record
from riskapp.evaluations.estimates import Estimate, duration_words, evaluation_estimate
from riskapp.evaluations.services import evaluation_start
from riskapp.gates.evaluate import project_gates
from riskapp.gates.models import GateKind, QualityGate
from riskapp.jobs.models import Job
from riskapp.projects.models import Project


def _snapshot(gate: QualityGate) -> dict[str, Any]:
    return {"kind": gate.kind, "params": gate.params, "enabled": gate.enabled}


@transaction.atomic
def gate_create(
    *, actor: AbstractBaseUser, project: Project, kind: str, params: dict[str, Any], enabled: bool = True
) -> QualityGate:
    gate = QualityGate.objects.create(project=project, kind=kind, params=params, enabled=enabled)
    audit_record(actor=actor, action="gate.created", target=gate, project_id=project.pk, after=_snapshot(gate))
    return gate


@transaction.atomic
def gate_update(
    *, actor: AbstractBaseUser, gate: QualityGate, kind: str, params: dict[str, Any], enabled: bool
) -> QualityGate:
    before = _snapshot(gate)
    gate.kind, gate.params, gate.enabled = kind, params, enabled
    gate.save()
    audit_record(
        actor=actor,
        action="gate.updated",
        target=gate,
        project_id=gate.project_id,
        before=before,
        after=_snapshot(gate),
    )
    return gate


@transaction.atomic
def gate_delete(*, actor: AbstractBaseUser, gate: QualityGate) -> None:
    audit_record(actor=actor, action="gate.deleted", target=gate, project_id=gate.project_id, before=_snapshot(gate))
    gate.delete()


@dataclass(frozen=True)
class PlanStart:
    dataset: DatasetArtifact
    jobs: list[Job]
    skipped: list[dict[str, str]]  # {kind, reason}


def _latest_ready_dataset(project: Project, purpose: str) -> DatasetArtifact | None:
    return (
        DatasetArtifact.objects.filter(project=project, status=IntakeStatus.READY, purpose=purpose)
        .order_by("-created_at", "-id")
        .first()
    )


def _planned_runs(
    planned, *, model: ModelArtifact, sample_limit: int, backdoor_steps: int | None
) -> tuple[str, dict[str, Any] | None, ModelArtifact | None, str]:
    """(kind, options, target model, skip reason) for one planned job; options None means skip."""
    p, common = planned.params, {"sample_limit": sample_limit}
    nc_steps = {"steps": backdoor_steps} if backdoor_steps else {}
    kind = planned.kind
    if kind == "validation":
        if p.get("dataset", "evaluation") != "evaluation":
            return kind, None, model, f"needs a {p['dataset']} dataset, which CI runs do not upload"
        return kind, common, model, ""
    # The plan states a black-box budget in the engine's own unit (queries per input): it reaches the engine as it
    # is, because the evidence rules weigh a query attack by the budget it had.
    budget = {"max_queries": p["max_queries"]} if p.get("max_queries") else {}
    if kind == "attack":
        options = common | {"attacks": [engine_attack(p["attack"])], "eps": p["eps"]} | budget
        return kind, options | ({"steps": p["steps"]} if p.get("steps") else {}), model, ""
    if kind == "attack_suite":
        suite = common | {"attacks": [engine_attack(a) for a in p["attacks"]], "eps": p["eps"]} | budget
        return kind, suite, model, ""
    if kind == "robustness_curve":
        points = max(int(p.get("points", 8)), 1)
        grid = [round(p["max_eps"] * i / points, 6) for i in range(1, points + 1)]
        return kind, common | {"attacks": [engine_attack(p.get("attack", "pgd"))], "eps": grid}, model, ""
    if kind == "transfer_attack":
        if model.parent is None:
            return kind, None, model, "the model has no parent (teacher) to craft the attack on"
        options = common | {"attacks": [engine_attack(p.get("attack", "pgd"))], "eps": p["eps"]}
        return kind, options | ({"steps": p["steps"]} if p.get("steps") else {}), model, ""
    if kind == "backdoor_scan":
        if p.get("target") == "teacher":
            if model.parent is None:
                return kind, None, model, "the model has no parent (teacher) to scan"
            return kind, common | nc_steps, model.parent, ""
        return kind, common | nc_steps, model, ""
    if kind == "lineage":
        if model.parent is None:
            return kind, None, model, "the model has no parent (teacher) to compare with"
        return kind, common | nc_steps, model, ""
    if kind == "strip":
        return kind, common, model, ""
    if kind == "data_scan":
        return kind, None, model, "screens training data, which CI runs do not upload"
    return kind, None, model, "not a kind CI runs"


def _needs_gradients(kind: str, options: dict[str, Any]) -> bool:
    """Whether a planned job needs the model's gradients or features (so cannot run on an ONNX model)."""
    from attacks.evasion.attacks import WHITE_BOX  # the engine's attack catalogue; imports no torch

    if kind in ("backdoor_scan", "lineage", "strip", "data_scan"):
        return True
    if kind in ("attack", "attack_suite", "robustness_curve"):
        return any(name in WHITE_BOX for name in options.get("attacks", []))
    return False  # validation; a transfer attack is crafted on the teacher


@dataclass(frozen=True)
class PlannedRun:
    kind: str
    options: dict[str, Any]
    target: ModelArtifact  # the model the job runs on (a teacher's scan runs on the parent)


@dataclass(frozen=True)
class PlanRuns:
    dataset: DatasetArtifact
    runs: list[PlannedRun]
    skipped: list[dict[str, str]]  # {kind, reason}


def model_test_plan_runs(
    *,
    model: ModelArtifact,
    dataset: DatasetArtifact | None = None,
    sample_limit: int = 200,
    backdoor_steps: int | None = None,
) -> PlanRuns:
    """The jobs "Run the plan" would queue for `model`, without queueing anything: the project's recommended test
    plan (from the latest answers), plus the attack each robust-accuracy gate needs and the plan does not already
    run. Jobs that need what the model lacks are skipped with a reason."""
    project = model.project
    dataset = dataset or _latest_ready_dataset(project, DatasetPurpose.EVALUATION)
    if dataset is None:
        raise ValidationError("The project has no evaluation dataset that passed intake; upload one first.")
    if model.status != IntakeStatus.READY:
        raise ValidationError(f"“{model.name}” has not passed intake yet (status: {model.status}).")
    version = assessment_latest(project=project)
    answers = version.answers if version else {}
    plan = recommended_plan(load_bank(), answers)
    runs = [_planned_runs(p, model=model, sample_limit=sample_limit, backdoor_steps=backdoor_steps) for p in plan]
    gates = [gate for gate in project_gates(project=project, answers=answers) if gate.enabled]  # defaults included
    for gate in gates:
        if gate.kind != GateKind.MIN_ROBUST_ACCURACY:
            continue
        options = {"sample_limit": sample_limit, "attacks": [gate.params["attack"]], "eps": gate.params["eps"]}
        runs.append(("attack", options, model, ""))
    if any(gate.kind == GateKind.NO_BACKDOOR_FLAG for gate in gates):
        nc_steps = {"steps": backdoor_steps} if backdoor_steps else {}
        runs.append(("backdoor_scan", {"sample_limit": sample_limit} | nc_steps, model, ""))
    planned, skipped, seen = [], [], set()
    for kind, options, target, reason in runs:
        if options is not None and target.format == "onnx" and _needs_gradients(kind, options):
            options, reason = (
                None,
                (
                    f"“{target.name}” is ONNX: no gradients or features, so white-box tests cannot run on it "
                    "(upload its PyTorch weights for them; black-box and transfer attacks still run)"
                ),
            )
        if options is None:
            skipped.append({"kind": kind, "reason": reason})
            continue
        key = json.dumps([kind, target.pk, {k: v for k, v in options.items() if k != "steps"}], sort_keys=True)
        if key in seen:
            continue  # the same measurement once (a gate's attack the plan already runs)
        seen.add(key)
        if target.status != IntakeStatus.READY:
            skipped.append({"kind": kind, "reason": f"“{target.name}” has not passed intake"})
            continue
        planned.append(PlannedRun(kind, options, target))
    return PlanRuns(dataset, planned, skipped)


def model_test_plan_estimate(*, plan: PlanRuns) -> Estimate:
    """How long the plan's jobs take at most, one after the other, on workers like the ones that timed the
    models at upload (the sum of each job's estimate, riskapp.evaluations.estimates)."""
    total, untimed = 0.0, []
    for run in plan.runs:
        teacher = run.target.parent if run.kind in ("transfer_attack", "lineage") else None
        estimate = evaluation_estimate(
            kind=run.kind, model=run.target, dataset=plan.dataset, options=run.options, teacher=teacher
        )
        if estimate.seconds is None:
            untimed.append(run.target)
        else:
            total += estimate.seconds
    if not plan.runs:
        return Estimate(0.0, "Nothing to run: the plan has no test this model allows.")
    if untimed:
        names = ", ".join(sorted({f"“{m.name}” v{m.version}" for m in untimed}))
        return Estimate(None, f"No run-time estimate: {names} was not timed at upload (upload it again to time it).")
    return Estimate(
        total,
        f"{len(plan.runs)} jobs, at most {duration_words(total)} of worker time in all on workers like the ones "
        "that timed the models at upload; jobs run side by side on several workers. Usually less: attacks stop "
        "on samples already fooled.",
    )


@transaction.atomic
def model_test_plan_start(
    *,
    actor: AbstractBaseUser,
    model: ModelArtifact,
    dataset: DatasetArtifact | None = None,
    sample_limit: int = 200,
    backdoor_steps: int | None = None,
) -> PlanStart:
    """Queue what model_test_plan_runs plans for `model`."""
    plan = model_test_plan_runs(model=model, dataset=dataset, sample_limit=sample_limit, backdoor_steps=backdoor_steps)
    project, dataset, jobs = model.project, plan.dataset, []
    for run in plan.runs:
        if run.kind == "validation":
            jobs.append(validation_start(actor=actor, model=run.target, dataset=dataset, sample_limit=sample_limit))
            continue
        teacher = run.target.parent if run.kind in ("transfer_attack", "lineage") else None
        jobs.append(
            evaluation_start(
                actor=actor, kind=run.kind, model=run.target, dataset=dataset, teacher=teacher, options=run.options
            )
        )
    skipped = plan.skipped
    audit_record(
        actor=actor,
        action="model.test_plan_started",
        target=model,
        project_id=project.pk,
        after={"jobs": [job.pk for job in jobs], "skipped": skipped, "dataset": dataset.pk},
    )
    return PlanStart(dataset, jobs, skipped)
