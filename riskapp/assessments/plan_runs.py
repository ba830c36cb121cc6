"""Run the plan: the jobs the recommended test plan (and the project's gates) call for on one model version, their
run-time estimate, and queuing them (the model page's "Run the plan" and CI's test-plan endpoint).

Each plan line becomes a job through its kind's declaration (riskapp.evaluations.kinds: `plan`); a line of a
kind that declares no translation is skipped with the kind's reason."""

import json
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from riskapp.artifacts.kinds import VALIDATION
from riskapp.artifacts.models import DatasetArtifact, DatasetPurpose, IntakeStatus, ModelArtifact
from riskapp.artifacts.services import validation_start
from riskapp.assessments.bank import load_bank
from riskapp.assessments.plan import recommended_plan
from riskapp.assessments.selectors import assessment_latest
from riskapp.audit.services import audit_record
from riskapp.evaluations.estimates import Estimate, duration_words, evaluation_estimate
from riskapp.evaluations.kinds import EVALUATION_KINDS, kind_for_gate, kind_with
from riskapp.evaluations.kinds.base import GATE_ATTACK, GATE_BACKDOOR_SCAN, PlanLine
from riskapp.evaluations.services import evaluation_start
from riskapp.gates.evaluate import project_gates
from riskapp.gates.models import GateKind, gate_norm
from riskapp.jobs.models import Job
from riskapp.projects.models import Project


@dataclass(frozen=True)
class PlanStart:
    dataset: DatasetArtifact
    jobs: list[Job]
    skipped: list[dict[str, str]]  # {kind, reason}


@dataclass(frozen=True)
class PlannedRun:
    kind: str
    options: dict[str, Any]
    target: ModelArtifact  # the model the job runs on (a teacher's scan runs on the parent)

    @property
    def teacher(self) -> ModelArtifact | None:
        """The teacher the job compares with, for the kinds that need one."""
        declared = EVALUATION_KINDS.get(self.kind)
        return self.target.parent if declared is not None and declared.needs_teacher else None


@dataclass(frozen=True)
class PlanRuns:
    dataset: DatasetArtifact
    runs: list[PlannedRun]
    skipped: list[dict[str, str]]  # {kind, reason}


def _latest_ready_dataset(project: Project, purpose: str) -> DatasetArtifact | None:
    return (
        DatasetArtifact.objects.filter(project=project, status=IntakeStatus.READY, purpose=purpose)
        .order_by("-created_at", "-id")
        .first()
    )


def _planned_run(
    kind: str,
    params: dict[str, Any],
    *,
    model: ModelArtifact,
    sample_limit: int,
    backdoor_steps: int | None,
    dataset: DatasetArtifact | None = None,
) -> tuple[str, dict[str, Any] | None, ModelArtifact, str]:
    """(kind, options, target model, skip reason) for one plan line; options None means skip."""
    if kind == VALIDATION:
        if params.get("dataset", "evaluation") != "evaluation":
            return kind, None, model, f"needs a {params['dataset']} dataset, which CI runs do not upload"
        return kind, {"sample_limit": sample_limit}, model, ""
    declared = EVALUATION_KINDS.get(kind)
    if declared is None or declared.plan is None:
        return kind, None, model, declared.plan_skip_reason if declared else "not a kind CI runs"
    job = declared.plan(PlanLine(params, model, sample_limit, backdoor_steps, dataset))
    return kind, job.options, job.target, job.reason


def _needs_gradients(kind: str, options: dict[str, Any]) -> bool:
    """Whether a planned job needs the model's gradients or features (so cannot run on an ONNX model)."""
    declared = EVALUATION_KINDS.get(kind)
    return declared is not None and declared.needs_gradients(options)


def _gate_plan_runs(gates: list[Any], runs: list[tuple], lines: dict[str, Any]) -> list[tuple]:
    """The plan lines that gates read by their kind's declaration (`gate_plans`: the privacy gates) call for,
    translated like the plan's own lines, except where a job the plan already runs on the model measures what the
    gate reads (its kind's `ran_planned`) or the plan already skips the same test for the same reason."""
    model, added = lines["model"], []
    for gate in gates:
        declared = kind_for_gate(gate.kind)
        if declared is None:
            continue
        params = declared.gate_plans[gate.kind](gate.params)
        kind, options, _, reason = run = _planned_run(declared.name, params, **lines)
        same_kind = [(o, t, r) for k, o, t, r in runs + added if k == kind]
        if any(o is not None and t.pk == model.pk and declared.ran_planned(params, o) for o, t, _ in same_kind):
            continue
        if options is None and any(o is None and r == reason for o, _, r in same_kind):
            continue
        added.append(run)
    return added


def model_test_plan_runs(
    *,
    model: ModelArtifact,
    dataset: DatasetArtifact | None = None,
    sample_limit: int = 200,
    backdoor_steps: int | None = None,
) -> PlanRuns:
    """The jobs "Run the plan" would queue for `model`, without queueing anything: the project's recommended test
    plan (from the latest answers), plus the attack each robust-accuracy gate needs and the test each privacy gate
    reads, where the plan does not already run them. Jobs that need what the model lacks are skipped with a
    reason."""
    project = model.project
    dataset = dataset or _latest_ready_dataset(project, DatasetPurpose.EVALUATION)
    if dataset is None:
        raise ValidationError("The project has no evaluation dataset that passed intake; upload one first.")
    if model.status != IntakeStatus.READY:
        raise ValidationError(f"“{model.name}” has not passed intake yet (status: {model.status}).")
    version = assessment_latest(project=project)
    answers = version.answers if version else {}
    plan = recommended_plan(load_bank(), answers)
    lines = dict(model=model, dataset=dataset, sample_limit=sample_limit, backdoor_steps=backdoor_steps)
    runs = [_planned_run(p.kind, p.params, **lines) for p in plan]
    gates = [gate for gate in project_gates(project=project, answers=answers) if gate.enabled]  # defaults included
    for gate in gates:
        if gate.kind != GateKind.MIN_ROBUST_ACCURACY:
            continue
        attack, eps, norm = gate.params["attack"], gate.params["eps"], gate_norm(gate.params)
        options = {"sample_limit": sample_limit, "attacks": [attack], "eps": eps, "norm": norm}
        runs.append((kind_with(GATE_ATTACK).name, options, model, ""))
    if any(gate.kind == GateKind.NO_BACKDOOR_FLAG for gate in gates):
        nc_steps = {"steps": backdoor_steps} if backdoor_steps else {}
        runs.append((kind_with(GATE_BACKDOOR_SCAN).name, {"sample_limit": sample_limit} | nc_steps, model, ""))
    runs += _gate_plan_runs(gates, runs, lines)
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
        estimate = evaluation_estimate(
            kind=run.kind, model=run.target, dataset=plan.dataset, options=run.options, teacher=run.teacher
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
        if run.kind == VALIDATION:
            jobs.append(validation_start(actor=actor, model=run.target, dataset=dataset, sample_limit=sample_limit))
            continue
        jobs.append(
            evaluation_start(
                actor=actor, kind=run.kind, model=run.target, dataset=dataset, teacher=run.teacher, options=run.options
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
