"""Evaluate a project's quality gates against the latest measurements of a model (and the project's register).

A gate with no measurement yet is *not measured* (`passed is None`); for a CI decision that counts as failed.
"""

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from riskapp.artifacts.models import ModelArtifact
from riskapp.assessments.bank import load_bank
from riskapp.assessments.epsilon import norm_label, norm_mismatch
from riskapp.assessments.models import Treatment
from riskapp.assessments.register import RegisterRow, register_rows
from riskapp.assessments.selectors import assessment_latest
from riskapp.evaluations.kinds import kind_for_gate, kinds_with
from riskapp.evaluations.kinds.base import NEURAL_CLEANSE, ROBUST_ACCURACY, ROBUSTNESS_CURVE, TRANSFER
from riskapp.gates.defaults import default_gates, with_defaults
from riskapp.gates.models import GateKind, QualityGate, gate_norm
from riskapp.gates.privacy_gates import NOT_MEASURED_NOTE, PRIVACY_GATES
from riskapp.jobs.models import Job, JobStatus
from riskapp.projects.models import Project


@dataclass(frozen=True)
class GateResult:
    gate: QualityGate
    passed: bool | None  # None: not measured yet
    measured: Any
    message: str
    job_id: int | None = None

    @property
    def status(self) -> str:
        return {True: "passed", False: "failed", None: "not measured"}[self.passed]


def gates_passed(results: list[GateResult]) -> bool:
    """The CI decision: every enabled gate measured and passed."""
    return all(result.passed is True for result in results if result.gate.enabled)


def model_succeeded_jobs(
    project: Project, model: ModelArtifact, kinds: Collection[str], targets: Collection[int] | None = None
) -> list[Job]:
    """The succeeded evaluations of these kinds on `targets` (default: the model itself; the version and its
    teacher for the verdict), latest first; from `model.succeeded_jobs` when a caller read them for many models at
    once (gates.selectors.models_with_verdicts), else in one query."""
    targets = [model.pk] if targets is None else list(targets)
    preloaded = getattr(model, "succeeded_jobs", None)
    if preloaded is not None:
        return [job for job in preloaded if job.kind in kinds and job.parameters.get("model_id") in targets]
    return list(
        Job.objects.filter(
            project=project, status=JobStatus.SUCCEEDED, kind__in=kinds, parameters__model_id__in=targets
        )
        .order_by("-finished_at", "-id")
        .only("id", "kind", "parameters", "result", "finished_at")
    )


def _same_eps(a: Any, b: Any) -> bool:
    return isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b, rel_tol=1e-6)


def _robust_accuracy(gate: QualityGate, project: Project, model: ModelArtifact) -> GateResult:
    attack, eps, threshold = gate.params["attack"], gate.params["eps"], gate.params["threshold"]
    norm = gate_norm(gate.params)
    other_norm: tuple[Job, str] | None = None  # the latest result at the gate's attack and ε in another norm
    for job in model_succeeded_jobs(project, model, kinds_with(ROBUST_ACCURACY)):
        trustworthy = job.result.get("trustworthy", False)
        is_curve = job.kind in kinds_with(ROBUSTNESS_CURVE)
        if is_curve:
            rows = [
                p
                for p in job.result.get("curve", [])
                if _same_eps(p.get("eps"), eps) and job.parameters.get("attacks") == [attack]
            ]
            measured_in = [job.result] if rows else []  # a curve states its norm once
        else:
            rows = [
                a for a in job.result.get("attacks", []) if a.get("attack") == attack and _same_eps(a.get("eps"), eps)
            ]
            measured_in = rows
        reasons = [why for entry in measured_in if (why := norm_mismatch(entry, norm))]
        if reasons:  # reported on its page, never evidence for a requirement in another norm
            other_norm = other_norm or (job, reasons[0])
            rows = [] if is_curve else [a for a in rows if norm_mismatch(a, norm) is None]
        if not rows:
            continue
        measured = min(row["robust_accuracy"] for row in rows)
        if not trustworthy:
            return GateResult(
                gate,
                False,
                measured,
                f"robust accuracy {measured:.3f} of job {job.pk} is flagged as not trustworthy (see its checks)",
                job.pk,
            )
        passed = measured >= threshold
        word = "meets" if passed else "is below"
        return GateResult(gate, passed, measured, f"robust accuracy {measured:.3f} {word} {threshold}", job.pk)
    skipped = f"; job {other_norm[0].pk} was {other_norm[1]}" if other_norm else ""
    return GateResult(
        gate,
        None,
        None,
        f"not measured: no {attack} attack at {norm_label(norm)} ε {eps} has succeeded yet ({NOT_MEASURED_NOTE})"
        + skipped,
    )


def _backdoor(gate: QualityGate, project: Project, model: ModelArtifact) -> GateResult:
    scans = model_succeeded_jobs(project, model, kinds_with(NEURAL_CLEANSE))
    if not scans:
        return GateResult(gate, None, None, f"not measured: no backdoor scan of this model yet ({NOT_MEASURED_NOTE})")
    scan = scans[0]
    flagged = scan.result.get("flagged_classes") or []
    if flagged:
        classes = ", ".join(str(c) for c in flagged)
        return GateResult(gate, False, flagged, f"backdoor suspected in class {classes} (job {scan.pk})", scan.pk)
    return GateResult(gate, True, [], f"no backdoor found (job {scan.pk})", scan.pk)


def _transfer(gate: QualityGate, project: Project, model: ModelArtifact) -> GateResult:
    threshold = gate.params["threshold"]
    for job in model_succeeded_jobs(project, model, kinds_with(TRANSFER)):
        rate = job.result.get("transfer_success_rate")
        if rate is None:
            continue
        passed = rate <= threshold
        word = "is within" if passed else "is above"
        return GateResult(gate, passed, rate, f"transfer success rate {rate:.3f} {word} {threshold}", job.pk)
    return GateResult(
        gate, None, None, f"not measured: no transfer attack on this model has succeeded yet ({NOT_MEASURED_NOTE})"
    )


def _privacy(gate: QualityGate, project: Project, model: ModelArtifact) -> GateResult:
    jobs = model_succeeded_jobs(project, model, (kind_for_gate(gate.kind).name,))  # the kind that declares the gate
    outcome = PRIVACY_GATES[gate.kind](gate.params, [(job.pk, job.result) for job in jobs])
    return GateResult(gate, outcome.passed, outcome.measured, outcome.message, outcome.job_id)


def _accepted(row) -> bool:
    t = row.treatment
    return bool(t and t.treatment == Treatment.ACCEPT and not (t.expires_on and t.expires_on < timezone.localdate()))


def _risk(gate: QualityGate, project: Project, rows: list[RegisterRow] | None) -> GateResult:
    if rows is None:
        version = assessment_latest(project=project)
        _, rows = register_rows(project, version.answers if version else {})
    open_risks = [row.threat.id for row in rows if row.above_appetite and not _accepted(row)]
    if open_risks:
        return GateResult(
            gate,
            False,
            open_risks,
            f"{len(open_risks)} risk(s) above the appetite without an accepted treatment: {', '.join(open_risks)}",
        )
    return GateResult(gate, True, [], "every risk above the appetite has an accepted treatment")


def project_gates(*, project: Project, answers: dict | None = None) -> list[QualityGate]:
    """The project's gates in effect: those its owners saved, and the defaults from the answers (gates/defaults.py)
    for every kind they have not saved. `answers`: the latest answers, when the caller has them."""
    if answers is None:
        version = assessment_latest(project=project)
        answers = version.answers if version else {}
    saved = sorted(project.gates.all(), key=lambda gate: gate.pk)  # .all(): a prefetch of many verdicts counts
    return with_defaults(saved, default_gates(load_bank(), answers))


def gates_evaluate(
    *,
    project: Project,
    model: ModelArtifact | None = None,
    rows: list[RegisterRow] | None = None,
    answers: dict | None = None,
) -> list[GateResult]:
    """Every gate in effect (saved and default), evaluated for `model` (the register gate needs none; the others
    say so). `rows`, `answers`: the register and the latest answers, when the caller has them already."""
    results = []
    for gate in project_gates(project=project, answers=answers):
        if gate.kind == GateKind.NO_UNACCEPTED_RISK_ABOVE_APPETITE:
            results.append(_risk(gate, project, rows))
        elif model is None:
            results.append(GateResult(gate, None, None, "not measured: choose a model to evaluate this gate"))
        elif gate.kind == GateKind.MIN_ROBUST_ACCURACY:
            results.append(_robust_accuracy(gate, project, model))
        elif gate.kind == GateKind.NO_BACKDOOR_FLAG:
            results.append(_backdoor(gate, project, model))
        elif gate.kind in PRIVACY_GATES:
            results.append(_privacy(gate, project, model))
        else:
            results.append(_transfer(gate, project, model))
    return results
