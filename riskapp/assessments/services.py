"""Every write to assessments, treatments and evidence, each with its audit event.

Workflow: draft → submitted (EDIT) → approved or returned (REVIEW, never by the submitter). An
approved version is frozen; the next edit starts a new draft version with its answers copied. Submitting or
approving a version with open problems (signoff.py) needs a confirmation with a reason, kept in the audit event.
"""

import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from riskapp.assessments.bank import answer_error, load_bank, normalise_answer
from riskapp.assessments.models import (
    EDITABLE_STATUSES,
    AssessmentStatus,
    AssessmentVersion,
    Evidence,
    RiskTreatment,
    Treatment,
)
from riskapp.assessments.register import current_band, register_snapshot
from riskapp.assessments.signoff import signoff_check
from riskapp.audit.services import audit_record
from riskapp.bands import Band
from riskapp.projects.models import Project
from riskapp.user_json import user_json_check


def answer_to_json(value: object) -> object:
    """The stored form of a normalised answer: lists for multiple choice, ISO strings for dates."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _latest(project: Project, *, lock: bool = False) -> AssessmentVersion | None:
    versions = AssessmentVersion.objects.filter(project=project)
    if lock:
        versions = versions.select_for_update()
    return versions.order_by("-number").first()


def _new_version(project: Project, actor: AbstractBaseUser, answers: dict) -> AssessmentVersion:
    number = (AssessmentVersion.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
    version = AssessmentVersion.objects.create(
        project=project, number=number, bank_version=load_bank().version, answers=answers, created_by=actor
    )
    audit_record(
        actor=actor,
        action="assessment.version_started",
        target=version,
        project_id=project.pk,
        after={"number": number, "copied_answers": len(answers)},
    )
    return version


@transaction.atomic
def assessment_editable_version(*, actor: AbstractBaseUser, project: Project) -> AssessmentVersion:
    """The version to edit: the open draft, or a new one (answers copied) after an approval."""
    latest = _latest(project, lock=True)
    if latest is None:
        return _new_version(project, actor, {})
    if latest.status == AssessmentStatus.SUBMITTED:
        raise ValidationError("This assessment is waiting for review: a reviewer must approve or return it first.")
    if latest.status == AssessmentStatus.APPROVED:
        return _new_version(project, actor, dict(latest.answers))
    return latest


@transaction.atomic
def answer_set(*, actor: AbstractBaseUser, project: Project, question_id: str, raw: Any) -> AssessmentVersion:
    """Record one answer (raw form value; "unknown" is always allowed) on the editable version."""
    bank = load_bank()
    try:
        question = bank.question(question_id)
    except KeyError:
        raise ValidationError(f"There is no question {question_id!r} in the question bank.") from None
    if raw in ("", [], None):
        raw = None
    error = answer_error(question, raw)
    if error:
        raise ValidationError(error)
    version = assessment_editable_version(actor=actor, project=project)
    before = version.answers.get(question_id)
    if raw is None:
        version.answers.pop(question_id, None)
    else:
        version.answers[question_id] = user_json_check(
            answer_to_json(normalise_answer(question, raw)), what=question_id
        )
    after = version.answers.get(question_id)
    if before != after:
        version.save(update_fields=["answers", "updated_at"])
        audit_record(
            actor=actor,
            action="assessment.answered",
            target=version,
            project_id=project.pk,
            before={question_id: before},
            after={question_id: after},
        )
    return version


def _transition(
    version: AssessmentVersion,
    *,
    actor: AbstractBaseUser,
    allowed_from,
    to: str,
    refused: str,
    comment=None,
    overridden: dict | None = None,
    **fields,
) -> AssessmentVersion:
    """Move the version to status `to` if it is still in `allowed_from` (a conditional UPDATE), with its audit event.
    `overridden`: the problems signed off despite and the reason given, for the audit event."""
    before = version.status
    if not AssessmentVersion.objects.filter(pk=version.pk, status__in=allowed_from).update(status=to, **fields):
        raise ValidationError(refused)
    after = {"status": to} if comment is None else {"status": to, "comment": comment}
    if overridden:
        after |= overridden
    audit_record(
        actor=actor,
        action=f"assessment.{to}",
        target=version,
        project_id=version.project_id,
        before={"status": before},
        after=after,
    )
    version.refresh_from_db()
    return version


def _overridden(problems: list[str], reason: str) -> dict | None:
    return {"problems": problems, "reason": reason.strip()} if problems else None


@transaction.atomic
def assessment_submit(
    *, actor: AbstractBaseUser, version: AssessmentVersion, confirmed: bool = False, reason: str = ""
) -> AssessmentVersion:
    """Submit a draft or returned version for review. With open problems (incomplete, failing gates, unaccepted
    risks above the appetite) it needs `confirmed` and a `reason`, else SignoffNeedsConfirmation lists them."""
    refused = "Only a draft or returned assessment can be submitted."
    if version.status not in EDITABLE_STATUSES:
        raise ValidationError(refused)
    problems = signoff_check(version=version, action="submit", confirmed=confirmed, reason=reason)
    return _transition(
        version,
        actor=actor,
        allowed_from=EDITABLE_STATUSES,
        to=AssessmentStatus.SUBMITTED,
        refused=refused,
        overridden=_overridden(problems, reason),
        submitted_by=actor,
        submitted_at=timezone.now(),
        snapshot=register_snapshot(version.project, version.answers),
    )


def _review_refusal(*, actor, version, to: str) -> str:
    """The refusal of any review of this version by `actor` (four-eyes), raised before anything else is checked."""
    if version.submitted_by_id == actor.pk:
        raise ValidationError("You submitted this assessment: another reviewer must approve it (four-eyes rule).")
    refused = f"Only a submitted assessment can be {to}."
    if version.status != AssessmentStatus.SUBMITTED:
        raise ValidationError(refused)
    return refused


def _review(*, actor, version, to: str, comment: str, overridden: dict | None = None, **fields) -> AssessmentVersion:
    refused = _review_refusal(actor=actor, version=version, to=to)
    return _transition(
        version,
        actor=actor,
        allowed_from=[AssessmentStatus.SUBMITTED],
        to=to,
        comment=comment,
        refused=refused,
        overridden=overridden,
        reviewed_by=actor,
        reviewed_at=timezone.now(),
        review_comment=comment,
        **fields,
    )


@transaction.atomic
def assessment_approve(
    *,
    actor: AbstractBaseUser,
    version: AssessmentVersion,
    comment: str = "",
    confirmed: bool = False,
    reason: str = "",
) -> AssessmentVersion:
    """Approve a submitted version (not by its submitter) and freeze its scores. With open problems it needs
    `confirmed` and a `reason`, as submitting does."""
    _review_refusal(actor=actor, version=version, to=AssessmentStatus.APPROVED)
    problems = signoff_check(version=version, action="approve", confirmed=confirmed, reason=reason)
    return _review(
        actor=actor,
        version=version,
        to=AssessmentStatus.APPROVED,
        comment=comment,
        overridden=_overridden(problems, reason),
        snapshot=register_snapshot(version.project, version.answers),
    )


@transaction.atomic
def assessment_return(*, actor: AbstractBaseUser, version: AssessmentVersion, comment: str) -> AssessmentVersion:
    """Send a submitted version back to the assessors with what needs to change."""
    if not comment.strip():
        raise ValidationError("Say what needs to change: returning an assessment needs a comment.")
    return _review(actor=actor, version=version, to=AssessmentStatus.RETURNED, comment=comment)


def band_above_appetite(band: str, appetite: str) -> bool:
    return Band.rank_of(band) > Band.rank_of(appetite)


@transaction.atomic
def treatment_set(
    *,
    actor: AbstractBaseUser,
    project: Project,
    threat_id: str,
    treatment: str,
    actor_can_review: bool,
    owner: AbstractBaseUser | None = None,
    rationale: str = "",
    expires_on: datetime.date | None = None,
) -> RiskTreatment:
    """Choose how a risk is treated. Accepting needs an owner, a rationale and a future expiry date;
    accepting a risk above the project's appetite needs a reviewer."""
    load_bank().threat(threat_id)  # KeyError for an unknown threat: a caller bug, not user input
    treatment = Treatment(treatment)
    if treatment == Treatment.ACCEPT:
        problems = []
        if owner is None:
            problems.append("an owner")
        if not rationale.strip():
            problems.append("a rationale")
        if expires_on is None:
            problems.append("an expiry date")
        if problems:
            raise ValidationError(f"Accepting a risk needs {', '.join(problems)}.")
        if expires_on <= timezone.localdate():
            raise ValidationError("The acceptance must expire in the future: choose a later review date.")
        band = current_band(project, threat_id)
        if band_above_appetite(band, project.risk_appetite) and not actor_can_review:
            raise ValidationError(
                f"This risk is {band}, above the project's appetite ({project.risk_appetite}): "
                "only a reviewer can accept it."
            )
    existing = RiskTreatment.objects.filter(project=project, threat_id=threat_id).first()
    before = _treatment_fields(existing) if existing else None
    record, _ = RiskTreatment.objects.update_or_create(
        project=project,
        threat_id=threat_id,
        defaults={
            "treatment": treatment,
            "owner": owner,
            "rationale": rationale.strip(),
            "expires_on": expires_on,
            "decided_by": actor,
        },
    )
    audit_record(
        actor=actor,
        action="risk.treatment_set",
        target=record,
        project_id=project.pk,
        before=before,
        after=_treatment_fields(record),
    )
    return record


def _treatment_fields(record: RiskTreatment) -> dict:
    return {
        "threat": record.threat_id,
        "treatment": record.treatment,
        "owner": record.owner.get_username() if record.owner else None,
        "rationale": record.rationale,
        "expires_on": record.expires_on.isoformat() if record.expires_on else None,
    }


@transaction.atomic
def evidence_record(
    *,
    project: Project,
    kind: str,
    value: object,
    source: str,
    job=None,
    model=None,
    actor: AbstractBaseUser | None = None,
    measurement: dict[str, Any] | None = None,
) -> Evidence:
    """Attach measured evidence (a job's result, about `model` or the whole project) to the project; the register
    re-scores with the latest measurement per kind and model, the worst model deciding. `measurement` says how
    strong it is (attacks, steps, query budget, inputs): without it, evidence can raise a risk but not lower it."""
    bank = load_bank()
    try:
        bank.evidence_kind(kind)
    except KeyError:
        raise ValidationError(f"{kind!r} is not an evidence kind of the question bank.") from None
    if model is not None and model.project_id != project.pk:
        raise ValidationError("Evidence must be about a model of the same project.")
    evidence = Evidence.objects.create(
        project=project,
        kind=kind,
        value=value,
        source=source[:200],
        job=job,
        model=model,
        measurement=measurement or {},
    )
    audit_record(
        actor=actor,
        action="evidence.recorded",
        target=evidence,
        project_id=project.pk,
        after={
            "kind": kind,
            "value": value,
            "source": source,
            "model_id": getattr(model, "pk", None),
            "measurement": measurement or {},
        },
    )
    return evidence
