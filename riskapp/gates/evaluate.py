"""Evaluate a project's quality gates against the latest measurements of a model (and the project's register).

A gate with no measurement yet is *not measured* (`passed is None`); for a CI decision that counts as failed.
"""

import math
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from riskapp.artifacts.models import ModelArtifact
from riskapp.assessments.bank import load_bank
from riskapp.assessments.models import Treatment
from riskapp.assessments.register import RegisterRow, register_rows
from riskapp.assessments.selectors import assessment_latest
from riskapp.gates.defaults import default_gates, with_defaults
from riskapp.gates.models import GateKind, QualityGate
from riskapp.jobs.models import Job, JobStatus
from riskapp.projects.models import Project

NOT_MEASURED_NOTE = "counts as failed until it is measured"


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


def _model_jobs(project: Project, model: ModelArtifact, kinds: tuple[str, ...]) -> list[Job]:
    """The model's succeeded evaluations of these kinds, latest first."""
    return list(
        Job.objects.filter(project=project, status=JobStatus.SUCCEEDED, kind__in=kinds, parameters__model_id=model.pk)
        .order_by("-finished_at", "-id")
        .only("id", "kind", "parameters", "result", "finished_at")
    )


def _same_eps(a: Any, b: Any) -> bool:
    return isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b, rel_tol=1e-6)


def _robust_accuracy(gate: QualityGate, project: Project, model: ModelArtifact) -> GateResult:
    attack, eps, threshold = gate.params["attack"], gate.params["eps"], gate.params["threshold"]
    for job in _model_jobs(project, model, ("attack", "attack_suite", "robustness_curve")):
        trustworthy = job.result.get("trustworthy", False)
        if job.kind == "robustness_curve":
            rows = [
                p
                for p in job.result.get("curve", [])
                if _same_eps(p.get("eps"), eps) and job.parameters.get("attacks") == [attack]
            ]
        else:
            rows = [
                a for a in job.result.get("attacks", []) if a.get("attack") == attack and _same_eps(a.get("eps"), eps)
            ]
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
    return GateResult(
        gate, None, None, f"not measured: no {attack} attack at ε {eps} has succeeded yet ({NOT_MEASURED_NOTE})"
    )


def _backdoor(gate: QualityGate, project: Project, model: ModelArtifact) -> GateResult:
    scans = _model_jobs(project, model, ("backdoor_scan",))
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
    for job in _model_jobs(project, model, ("transfer_attack",)):
        rate = job.result.get("transfer_success_rate")
        if rate is None:
            continue
        passed = rate <= threshold
        word = "is within" if passed else "is above"
        return GateResult(gate, passed, rate, f"transfer success rate {rate:.3f} {word} {threshold}", job.pk)
    return GateResult(
        gate, None, None, f"not measured: no transfer attack on this model has succeeded yet ({NOT_MEASURED_NOTE})"
    )


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
    return with_defaults(list(project.gates.order_by("id")), default_gates(load_bank(), answers))


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
        else:
            results.append(_transfer(gate, project, model))
    return results
