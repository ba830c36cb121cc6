import csv

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from riskapp.assessments import services
from riskapp.assessments.bank import load_bank
from riskapp.assessments.forms import PlanRunForm, ReviewForm, TreatmentForm
from riskapp.assessments.models import AssessmentStatus
from riskapp.assessments.plan_runs import model_test_plan_estimate, model_test_plan_runs, model_test_plan_start
from riskapp.assessments.register import register_document, register_rows
from riskapp.assessments.selectors import (
    assessment_latest,
    assessment_version,
    assessment_versions,
    plan_checklist,
    questionnaire_sections,
    versions_diff,
)
from riskapp.assessments.signoff import PAST, SignoffNeedsConfirmation, signoff_problems
from riskapp.charts.risk import heatmap_cells, risk_heatmap
from riskapp.jobs.kinds import KINDS
from riskapp.labels import label as plain_label
from riskapp.labels import plain
from riskapp.projects.access import project_view
from riskapp.projects.roles import Capability


def _questionnaire_context(access, user):
    bank = load_bank()
    version = assessment_latest(project=access.project)
    answers = version.answers if version else {}
    sections = questionnaire_sections(bank, answers)
    answered = sum(section.answered for section in sections)
    total = sum(section.total for section in sections)
    can_submit = bool(access.can_edit and version and version.is_editable)
    submitted = bool(version and version.status == AssessmentStatus.SUBMITTED)
    own_submission = submitted and version.submitted_by_id == user.pk
    can_review = access.can_review and submitted and not own_submission  # four-eyes: no Approve for the submitter
    return {
        "access": access,
        "project": access.project,
        "bank": bank,
        "version": version,
        "sections": sections,
        "answered": answered,
        "total": total,
        "percent": round(100 * answered / total) if total else 100,
        "can_answer": access.can_edit and (version is None or version.status != AssessmentStatus.SUBMITTED),
        "review_form": ReviewForm(),
        "can_submit": can_submit,
        "can_review": can_review,
        "own_submission": own_submission and access.can_review,
    }


@project_view()
def questionnaire(request, access):
    return render(request, "assessments/questionnaire.html", _questionnaire_context(access, request.user))


@project_view()
def status_panel(request, access):
    """The status panel beside the questionnaire, loaded by htmx with the page and again after each saved answer.
    Only here (and at submit and approve) are the sign-off problems worked out: they take a dozen queries, which
    the questionnaire and each answer's save do not pay."""
    context = _questionnaire_context(access, request.user)
    # Shown before the Submit or Approve button, which then needs a confirmation with a reason.
    shown = context["can_submit"] or context["can_review"]
    context["signoff_problems"] = signoff_problems(version=context["version"]) if shown else []
    return render(request, "assessments/_status.html", context)


@project_view(Capability.EDIT)
@require_POST
def answer(request, access):
    question_id = request.POST.get("question", "")
    values = request.POST.getlist("value")
    if "unknown" in values:  # "Don't know" wins over anything else sent with it
        raw = "unknown"
    else:
        raw = values if request.POST.get("multiple") else (values[0] if values else None)
    error = None
    try:
        services.answer_set(actor=request.user, project=access.project, question_id=question_id, raw=raw)
    except ValidationError as exc:
        # Shown beside its question, so without the question's id the bank's message starts with.
        error = " ".join(message.removeprefix(f"{question_id}: ") for message in exc.messages)
    if request.htmx:
        context = _questionnaire_context(access, request.user)
        shown = context["can_answer"] and any(
            item.question.id == question_id for section in context["sections"] for item in section.items
        )
        # Next to its question when that is on the page, else at the top; "Saved" beside it when it was.
        context |= {
            "error": error,
            "error_question": question_id if shown else None,
            "saved_question": question_id if shown and not error else None,
        }
        response = render(request, "assessments/_questionnaire.html", context, status=422 if error else 200)
        if not error:
            response["HX-Trigger"] = "answer-saved"  # the status panel loads itself again
        return response
    if error:
        messages.error(request, error)
    return redirect(f"{request.path.rsplit('answer/', 1)[0]}#q-{question_id}")


@project_view(Capability.EDIT)
@require_POST
def submit(request, access):
    version = assessment_latest(project=access.project)
    try:
        if version is None:
            raise ValidationError("Answer the questionnaire before submitting it.")
        services.assessment_submit(actor=request.user, version=version, **_confirmation(request))
        messages.success(request, f"Version {version.number} submitted for review.")
    except ValidationError as error:
        _signoff_error(request, error)
    return redirect("projects:assessments:questionnaire", project_id=access.project.pk)


def _confirmation(request) -> dict:
    """The sign-off form's explicit confirmation (a checkbox) and its reason."""
    return {"confirmed": request.POST.get("confirm") == "1", "reason": request.POST.get("reason", "")[:2000]}


def _signoff_error(request, error: ValidationError) -> None:
    if isinstance(error, SignoffNeedsConfirmation):
        # The problems are listed on the page beside the confirmation; the message says what to do.
        verb = error.action
        messages.error(
            request,
            f"Not {PAST[verb]}: {len(error.problems)} problem{'s' if len(error.problems) != 1 else ''} "
            f"listed below remain{'s' if len(error.problems) == 1 else ''}. To {verb} anyway, tick the confirmation "
            "and give a reason.",
        )
    else:
        messages.error(request, " ".join(error.messages))


@project_view(Capability.REVIEW)
@require_POST
def review(request, access):
    version = assessment_latest(project=access.project)
    form = ReviewForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    try:
        if version is None:
            raise ValidationError("There is no assessment to review yet.")
        if request.POST.get("action") == "approve":
            services.assessment_approve(actor=request.user, version=version, comment=comment, **_confirmation(request))
            messages.success(request, f"Version {version.number} approved.")
        else:
            services.assessment_return(actor=request.user, version=version, comment=comment)
            messages.success(request, f"Version {version.number} returned to the assessors.")
    except ValidationError as error:
        _signoff_error(request, error)
    return redirect("projects:assessments:questionnaire", project_id=access.project.pk)


def _answers(project):
    version = assessment_latest(project=project)
    return version, (version.answers if version else {})


@project_view()
def register(request, access):
    bank = load_bank()
    version, answers = _answers(access.project)
    scored, rows = register_rows(access.project, answers)
    forms = {}
    if access.can_edit or access.can_review:
        members = list(access.project.members.order_by("username"))  # once, not once per risk
        forms = {
            row.threat.id: TreatmentForm(
                project=access.project, members=members, prefix=row.threat.id, initial=_initial(row)
            )
            for row in rows
        }
    return render(
        request,
        "assessments/register.html",
        {
            "access": access,
            "project": access.project,
            "version": version,
            "register": scored,
            "rows": [(row, forms.get(row.threat.id)) for row in rows],
            "plan": plan_checklist(project=access.project, bank=bank, answers=answers),
            "plan_form": PlanRunForm(project=access.project) if access.can_edit else None,
            "unanswered": [bank.question(qid) for qid in scored.unanswered],
            "heatmap": risk_heatmap(rows),
            "heatmap_cells": heatmap_cells(rows),
        },
    )


def _kind_words(kind: str) -> str:
    """A job kind as its users read it ("Validation", "Transfer attack"), never its id."""
    declared = KINDS.get(kind)
    return declared.label if declared else plain_label(kind).capitalize()


@project_view(Capability.EDIT)
@require_POST
def plan_run(request, access):
    """Queue the recommended test plan on a model: the register's "Run the plan" (the CI client's test-plan call)."""
    form = PlanRunForm(request.POST, project=access.project)
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form[field].label if field in form.fields else "Test plan"
            messages.error(request, f"{label}: {' '.join(errors)}")
        return redirect(reverse("projects:assessments:register", args=[access.project.pk]) + "#plan")
    model = form.cleaned_data["model"]
    try:
        started = model_test_plan_start(
            actor=request.user,
            model=model,
            dataset=form.cleaned_data["dataset"],
            sample_limit=form.cleaned_data["sample_limit"],
            backdoor_steps=form.cleaned_data["backdoor_steps"],
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        jobs = ", ".join(f"{_kind_words(job.kind)} (job {job.pk})" for job in started.jobs) or "nothing"
        messages.success(request, f"Test plan queued on {model}: {jobs}.")
        for skipped in started.skipped:
            messages.warning(request, f"Not run: {_kind_words(skipped['kind'])}, {plain(skipped['reason'])}.")
    return redirect(reverse("projects:assessments:register", args=[access.project.pk]) + "#plan")


@project_view(Capability.EDIT)
def plan_estimate(request, access):
    """The "Run the plan" form's estimate (htmx fragment): how long the plan's jobs take, before any is queued."""
    form = PlanRunForm(request.GET, project=access.project)
    if not form.is_valid():
        return render(
            request,
            "artifacts/_estimate.html",
            {"text": "Choose a model and evaluation data to see how long the plan takes."},
        )
    try:
        plan = model_test_plan_runs(
            model=form.cleaned_data["model"],
            dataset=form.cleaned_data["dataset"],
            sample_limit=form.cleaned_data["sample_limit"],
            backdoor_steps=form.cleaned_data["backdoor_steps"],
        )
    except ValidationError as error:
        return render(request, "artifacts/_estimate.html", {"text": " ".join(error.messages)})
    return render(request, "artifacts/_estimate.html", {"text": model_test_plan_estimate(plan=plan).text})


def _initial(row):
    t = row.treatment
    if t is None:
        return {}
    return {"treatment": t.treatment, "owner": t.owner_id, "rationale": t.rationale, "expires_on": t.expires_on}


@project_view()
@require_POST
def treatment(request, access, threat_id: str):
    if not (access.can_edit or access.can_review):
        raise PermissionDenied("Your role does not allow choosing risk treatments.")
    bank = load_bank()
    try:
        bank.threat(threat_id)
    except KeyError:
        raise Http404("No such threat.") from None
    form = TreatmentForm(request.POST, project=access.project, prefix=threat_id)
    if form.is_valid():
        try:
            services.treatment_set(
                actor=request.user,
                project=access.project,
                threat_id=threat_id,
                actor_can_review=access.can_review,
                **form.cleaned_data,
            )
            messages.success(request, f"Treatment of “{bank.threat(threat_id).name}” saved.")
        except ValidationError as error:
            messages.error(request, f"{bank.threat(threat_id).name}: {' '.join(error.messages)}")
    else:
        for field, errors in form.errors.items():
            label = form[field].label if field in form.fields else bank.threat(threat_id).name
            messages.error(request, f"{label}: {' '.join(errors)}")
    return redirect(f"{request.path.rsplit(threat_id + '/treatment/', 1)[0]}#t-{threat_id}")


@project_view()
def history(request, access):
    versions = list(assessment_versions(project=access.project))
    diff = older = newer = None
    try:
        a, b = int(request.GET.get("a", 0)), int(request.GET.get("b", 0))
    except ValueError:
        a = b = 0
    if a and b and a != b:
        older = assessment_version(project=access.project, number=min(a, b))
        newer = assessment_version(project=access.project, number=max(a, b))
        diff = versions_diff(load_bank(), older, newer)
    return render(
        request,
        "assessments/history.html",
        {
            "access": access,
            "project": access.project,
            "versions": versions,
            "diff": diff,
            "older": older,
            "newer": newer,
        },
    )


@project_view()
def version_detail(request, access, number: int):
    version = assessment_version(project=access.project, number=number)
    return render(request, "assessments/print.html", _report_context(access, version))


def _report_context(access, version=None):
    bank = load_bank()
    if version is None:
        version = assessment_latest(project=access.project)
    answers = version.answers if version else {}
    scored, rows = register_rows(access.project, answers)
    return {
        "access": access,
        "project": access.project,
        "version": version,
        "bank": bank,
        "rows": rows,
        "sections": questionnaire_sections(bank, answers),
        "plan": plan_checklist(project=access.project, bank=bank, answers=answers),
        "generated_at": timezone.now(),
    }


def _attachment(response, filename):
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@project_view()
def export_register_json(request, access):
    response = JsonResponse(register_document(access.project), json_dumps_params={"indent": 2})
    return _attachment(response, f"riskapp-register-{access.project.pk}.json")


@project_view()
def export_register_csv(request, access):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    writer = csv.writer(response)
    writer.writerow(
        [
            "threat",
            "name",
            "atlas",
            "owasp_ml",
            "inherent_score",
            "inherent_band",
            "current_likelihood",
            "current_impact",
            "current_score",
            "current_band",
            "projected_score",
            "projected_band",
            "above_appetite",
            "treatment",
            "owner",
            "expires_on",
            "acceptance_overdue",
        ]
    )
    for risk in register_document(access.project)["risks"]:
        writer.writerow(
            [
                risk["threat"],
                _csv_safe(risk["name"]),
                " ".join(risk["atlas"]),
                " ".join(risk["owasp_ml"]),
                risk["inherent"]["score"],
                risk["inherent"]["band"],
                risk["current"]["likelihood"],
                risk["current"]["impact"],
                risk["current"]["score"],
                risk["current"]["band"],
                risk["projected"]["score"],
                risk["projected"]["band"],
                risk["above_appetite"],
                risk["treatment"] or "",
                _csv_safe(risk["owner"] or ""),
                risk["expires_on"] or "",
                risk["acceptance_overdue"],
            ]
        )
    return _attachment(response, f"riskapp-register-{access.project.pk}.csv")


def _csv_safe(text: str) -> str:
    # A cell starting with = + - @ is run as a formula by spreadsheet programs.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@project_view()
def export_markdown(request, access):
    text = render_to_string("assessments/assessment.md", _report_context(access))
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    return _attachment(response, f"riskapp-assessment-{access.project.pk}.md")


@project_view()
def export_print(request, access):
    return render(request, "assessments/print.html", _report_context(access))


def about_content(request):
    """Attribution for the frameworks the question bank and threat catalogue are built on."""
    bank = load_bank()
    return render(request, "assessments/about_content.html", {"bank": bank})
