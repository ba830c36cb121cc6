"""Reads of a project's gates, scoped through the project the caller already has access to, and the inputs of
the ship verdict (verdict.py), gathered here so that the verdict itself stays pure."""

import re
from datetime import date

from django.db.models import Exists, OuterRef, QuerySet, prefetch_related_objects
from django.shortcuts import get_object_or_404
from django.utils import timezone

from riskapp.artifacts.models import ModelArtifact, ModelRole
from riskapp.artifacts.selectors import models_not_refused
from riskapp.assessments.bank import load_bank
from riskapp.assessments.models import Treatment
from riskapp.assessments.plan import engine_attack, recommended_plan
from riskapp.assessments.register import RegisterRow, register_rows
from riskapp.assessments.selectors import assessment_latest
from riskapp.evaluations.kinds import job_runs_planned, kinds_with, plan_needs_teacher, plan_on_teacher
from riskapp.evaluations.kinds.base import NEURAL_CLEANSE
from riskapp.gates.evaluate import gates_evaluate, model_succeeded_jobs
from riskapp.gates.models import GateKind, QualityGate, budget_words
from riskapp.gates.verdict import BackdoorFlag, GateCheck, RiskAboveAppetite, Verdict, VerdictInputs, ship_verdict
from riskapp.jobs.kinds import KINDS
from riskapp.jobs.models import Job, JobStatus
from riskapp.projects.models import Project


def gates_for_project(*, project: Project) -> QuerySet[QualityGate]:
    return project.gates.order_by("id")


def gate_for_project(*, project: Project, gate_id: int) -> QualityGate:
    """Another project's gate id answers 404."""
    return get_object_or_404(project.gates, pk=gate_id)


def model_for_project(*, project: Project, model_id: int) -> ModelArtifact:
    return get_object_or_404(project.models.select_related("parent"), pk=model_id)


# --- the ship verdict's inputs ------------------------------------------------------------------------------


def _attack_words(name: str) -> str:
    """An engine attack in words, from the engine's own catalogue: "pgd_linf" -> "PGD L∞"."""
    from attacks.evasion.attacks import ATTACKS  # the engine's catalogue; imports no torch

    spec = ATTACKS.get(engine_attack(name))
    return re.split(r" \(| with |, ", spec.description)[0] if spec else name


def _gate_words(gate: QualityGate) -> str:
    """The gate as the verdict says it: QualityGate.describe() with the attack in words."""
    if gate.kind == GateKind.MIN_ROBUST_ACCURACY:
        p = gate.params or {}
        attack = _attack_words(str(p.get("attack")))
        words = f"robust accuracy ≥ {p.get('threshold')} under {attack} at {budget_words(p)}"
    else:
        words = gate.describe()
    return f"{words} (default from the answers)" if gate.is_default else words


def _plan_label(planned) -> str:
    kind = KINDS.get(planned.kind)
    label = kind.label if kind else planned.kind.replace("_", " ").capitalize()
    params = planned.params
    norm = params.get("norm")  # a line with an ε runs in the project's norm (PGD: PGD L2 for an L2 budget)
    if params.get("attack"):
        attack = engine_attack(params["attack"], norm)
        budget = f" at {budget_words(params | {'attack': attack})}" if "eps" in params else ""
        label += f" ({_attack_words(attack)}{budget})"
    elif params.get("attacks"):
        label += f" ({', '.join(_attack_words(engine_attack(a, norm)) for a in params['attacks'])})"
    if plan_on_teacher(planned.kind, params):
        label += " of the teacher"
    return label


def _ran(job: Job, planned, model: ModelArtifact) -> bool:
    """Whether the succeeded `job` ran this planned test for `model` (a teacher's scan runs on its parent)."""
    if not job_runs_planned(planned, job.kind, job.parameters):
        return False
    on = job.parameters.get("model_id")
    if plan_on_teacher(planned.kind, planned.params):
        return on == model.parent_id
    return on == model.pk


def _tests_not_run(project: Project, model: ModelArtifact, answers: dict) -> tuple[str, ...]:
    """The recommended plan's tests that no succeeded job has run on this version (in one query). Tests the
    version cannot have (a teacher's scan, a transfer attack or a lineage check without a teacher) are left out."""
    plan = [
        p
        for p in recommended_plan(load_bank(), answers)
        if model.parent_id is not None or not plan_needs_teacher(p.kind, p.params)
    ]
    if not plan:
        return ()
    targets = [model.pk] + ([model.parent_id] if model.parent_id else [])
    jobs = model_succeeded_jobs(project, model, {p.kind for p in plan}, targets)
    return tuple(_plan_label(p) for p in plan if not any(_ran(job, p, model) for job in jobs))


def _class_names(model: ModelArtifact, classes: list) -> tuple[str, ...]:
    names = model.class_names or []
    return tuple(f"{c} “{names[c]}”" if isinstance(c, int) and 0 <= c < len(names) else str(c) for c in classes)


def _backdoor_flags(project: Project, model: ModelArtifact) -> tuple[BackdoorFlag, ...]:
    """What the latest backdoor scan of the version, and that of its teacher, flagged (in one query)."""
    scanned = {model.pk: (model, False)}
    if model.parent_id is not None and model.parent is not None:
        scanned[model.parent_id] = (model.parent, True)
    scans = model_succeeded_jobs(project, model, kinds_with(NEURAL_CLEANSE), scanned)
    latest: dict[int, Job] = {}
    for scan in scans:
        latest.setdefault(scan.parameters.get("model_id"), scan)
    flags = []
    for model_id, (target, is_teacher) in scanned.items():
        flagged = (latest[model_id].result.get("flagged_classes") or []) if model_id in latest else []
        if flagged:
            flags.append(BackdoorFlag(f"{target.name} v{target.version}", _class_names(target, flagged), is_teacher))
    return tuple(flags)


def verdict_inputs(
    *,
    project: Project,
    model: ModelArtifact | None,
    today: date,
    rows: list[RegisterRow] | None = None,
    answers: dict | None = None,
) -> VerdictInputs:
    """Everything the ship verdict of `model` (None: the project has none) is decided on, read in a fixed
    number of queries (a few per gate). `rows`, `answers`: the register and the latest answers, when the caller
    has them."""
    if answers is None:
        version = assessment_latest(project=project)
        answers = version.answers if version else {}
    if rows is None:
        _, rows = register_rows(project, answers)
    not_assessed = tuple(row.threat.name for row in rows if not row.risk.assessed)
    risks = tuple(
        RiskAboveAppetite(
            name=row.threat.name,
            band=row.risk.current.band,
            accepted=bool(row.treatment and row.treatment.treatment == Treatment.ACCEPT),
            owner=row.treatment.owner.get_username() if row.treatment and row.treatment.owner else "",
            expires_on=row.treatment.expires_on if row.treatment else None,
        )
        for row in rows
        if row.above_appetite
    )
    results = [r for r in gates_evaluate(project=project, model=model, rows=rows, answers=answers) if r.gate.enabled]
    gates = tuple(GateCheck(r.gate.kind, _gate_words(r.gate), r.passed, r.message) for r in results)
    if model is None:
        return VerdictInputs(None, project.risk_appetite, today, gates, risks, not_assessed=not_assessed)
    return VerdictInputs(
        model=f"{model.name} v{model.version}",
        risk_appetite=project.risk_appetite,
        today=today,
        gates=gates,
        risks=risks,
        tests_not_run=_tests_not_run(project, model, answers),
        backdoors=_backdoor_flags(project, model),
        not_assessed=not_assessed,
    )


def release_candidate(*, project: Project) -> ModelArtifact | None:
    """The version a project ships: its newest model that is not a teacher and has no newer version. An upload
    the intake refused is never a candidate and never replaces the version it was meant to follow."""
    candidates = models_not_refused(project=project)
    newer = candidates.filter(previous_version=OuterRef("pk"))
    return (
        candidates.exclude(role=ModelRole.TEACHER)
        .exclude(Exists(newer))
        .select_related("parent")
        .order_by("-created_at", "-id")
        .first()
    )


def model_verdict(
    *,
    project: Project,
    model: ModelArtifact | None,
    today: date | None = None,
    rows: list[RegisterRow] | None = None,
) -> Verdict:
    inputs = verdict_inputs(project=project, model=model, today=today or timezone.localdate(), rows=rows)
    return ship_verdict(inputs)


def models_with_verdicts(*, project: Project, models: list[ModelArtifact], today: date | None = None) -> list:
    """The models (with `parent` selected), each with its ship verdict as `.verdict`, read in a fixed number of
    queries however many models there are: the answers, register, gates and succeeded jobs once for all."""
    models = list(models)
    version = assessment_latest(project=project)
    answers = version.answers if version else {}
    _, rows = register_rows(project, answers)
    prefetch_related_objects([project], "gates")
    targets = {model.pk for model in models} | {model.parent_id for model in models if model.parent_id}
    jobs = list(
        Job.objects.filter(project=project, status=JobStatus.SUCCEEDED, parameters__model_id__in=list(targets))
        .order_by("-finished_at", "-id")
        .only("id", "kind", "parameters", "result", "finished_at")
    )
    today = today or timezone.localdate()
    for model in models:
        mine = {model.pk, model.parent_id}
        model.succeeded_jobs = [job for job in jobs if job.parameters.get("model_id") in mine]
        inputs = verdict_inputs(project=project, model=model, today=today, rows=rows, answers=answers)
        model.verdict = ship_verdict(inputs)
    return models


def project_verdict(*, project: Project, today: date | None = None, rows: list[RegisterRow] | None = None) -> Verdict:
    """The project's verdict: its release candidate's."""
    return model_verdict(project=project, model=release_candidate(project=project), today=today, rows=rows)
