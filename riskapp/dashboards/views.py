import json

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify

from riskapp.assessments.bank import load_bank
from riskapp.assessments.models import AssessmentStatus
from riskapp.assessments.register import register_rows
from riskapp.assessments.selectors import plan_checklist
from riskapp.bands import Band
from riskapp.charts import evaluations as evaluation_figures
from riskapp.charts import risk as figures
from riskapp.dashboards.exports import cyclonedx_bom, defectdojo_findings, report_document
from riskapp.dashboards.report_pdf import report_pdf
from riskapp.dashboards.risk import curve_series, lineage_edges, model_summaries, version_chains
from riskapp.dashboards.selectors import SORTS, portfolio_rows, portfolio_summaries, refresh_stale_summaries
from riskapp.dashboards.teachers import candidates as teacher_candidates
from riskapp.gates.selectors import project_verdict
from riskapp.projects.access import project_view

PAGE_SIZE = 50


@login_required
def portfolio(request):
    """Every project the user is a member of: highest band, counts per band, overdue acceptances,
    assessment status, last test and trend; sortable and filterable through the query string."""
    today = timezone.localdate()
    refresh_stale_summaries(user=request.user, today=today)
    filters = {
        "band": request.GET.get("band", ""),
        "status": request.GET.get("status", ""),
        "query": request.GET.get("q", "").strip()[:100],
        "overdue_only": request.GET.get("overdue") == "1",
    }
    sort = request.GET.get("sort", "band")
    sort = sort if sort in SORTS else "band"
    descending = request.GET.get("dir", "desc") != "asc"
    summaries = portfolio_summaries(user=request.user, sort=sort, descending=descending, today=today, **filters)
    page = Paginator(summaries, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = portfolio_rows(user=request.user, summaries=list(page.object_list), today=today)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "dashboards/portfolio.html",
        {
            "rows": rows,
            "page": page,
            "figure": figures.portfolio_bars(rows[:25]) if rows else None,
            "filters": filters,
            "sort": sort,
            "descending": descending,
            "bands": Band.rated(),  # a highest band is a rated one
            "statuses": AssessmentStatus.choices,
            "query_without_page": query.urlencode(),
            "sorts": [
                ("band", "Highest band"),
                ("score", "Risk score"),
                ("above", "Above appetite"),
                ("status", "Assessment status"),
                ("name", "Name"),
            ],
        },
    )


@project_view()
def project_risk(request, access):
    """The project risk page: heatmap, register summary, robustness and backdoor per model, lineage graph,
    the test plan's state and sign-off."""
    project = access.project
    bank = load_bank()
    versions = list(project.assessment_versions.select_related("submitted_by", "reviewed_by").order_by("-number"))
    latest = versions[0] if versions else None
    answers = latest.answers if latest else {}
    register, rows = register_rows(project, answers)
    summaries, lineage = model_summaries(project)
    edges = lineage_edges(summaries, lineage)
    series = curve_series(summaries)
    attacks = sorted({name for s in summaries for name in s.robustness})
    return render(
        request,
        "dashboards/risk.html",
        {
            "access": access,
            "project": project,
            "latest": latest,
            "approved": next((v for v in versions if v.status == AssessmentStatus.APPROVED), None),
            "versions": versions[:10],
            "rows": rows[:10],
            "risk_count": len(rows),
            "register": register,
            "heatmap": figures.risk_heatmap(rows),
            "heatmap_cells": figures.heatmap_cells(rows),
            "summaries": summaries,
            "attacks": attacks,
            "robustness_rows": [(s, [s.robustness.get(a) for a in attacks]) for s in summaries],
            "series": series,
            "curves": evaluation_figures.robustness_curves(series, norm=series[0]["norm"]) if series else None,
            "edges": edges,
            "lineage": figures.lineage_graph(summaries, edges) if summaries else None,
            "plan": plan_checklist(project=project, bank=bank, answers=answers),
            "verdict": project_verdict(project=project, rows=rows),
        },
    )


def _download(content: str, filename: str, content_type: str = "application/json") -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _slug(project) -> str:
    return slugify(project.name) or f"project-{project.pk}"


@project_view()
def project_report(request, access):
    """The printable report: cover, executive summary, register, evidence charts and sign-off."""
    project = access.project
    document = report_document(project)
    latest = project.assessment_versions.order_by("-number").first()
    _, rows = register_rows(project, latest.answers if latest else {})
    summaries, _ = model_summaries(project)
    series = curve_series(summaries)
    return render(
        request,
        "dashboards/report.html",
        {
            "access": access,
            "project": project,
            "report": document,
            "heatmap": figures.risk_heatmap(rows),
            "curves": evaluation_figures.robustness_curves(series, norm=series[0]["norm"]) if series else None,
            "series": series,
        },
    )


@project_view()
def project_report_json(request, access):
    document = report_document(access.project)
    return _download(json.dumps(document, indent=2, default=str), f"{_slug(access.project)}-report.json")


@project_view()
def project_report_pdf(request, access):
    """The printable report as a PDF file, the verdict and its reasons first."""
    response = HttpResponse(report_pdf(access.project), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{_slug(access.project)}-report.pdf"'
    return response


@project_view()
def project_defectdojo(request, access):
    document = defectdojo_findings(access.project)
    return _download(json.dumps(document, indent=2), f"{_slug(access.project)}-defectdojo.json")


@project_view()
def project_cyclonedx(request, access):
    return _download(
        cyclonedx_bom(access.project), f"{_slug(access.project)}-ml-bom.cdx.json", "application/vnd.cyclonedx+json"
    )


@project_view()
def project_teachers(request, access):
    """Candidate teachers side by side with a recommendation and its reasons."""
    summaries, _ = model_summaries(access.project)
    ranked, best = teacher_candidates(summaries)
    return render(
        request,
        "dashboards/teachers.html",
        {"access": access, "project": access.project, "candidates": ranked, "best": best},
    )


@project_view()
def project_trends(request, access):
    """Robust accuracy and backdoor verdict per model version (continuous stress testing)."""
    summaries, _ = model_summaries(access.project)
    chains = [chain for chain in version_chains(summaries) if chain]
    return render(
        request,
        "dashboards/trends.html",
        {
            "access": access,
            "project": access.project,
            "chains": chains,
            "figure": figures.version_trend(chains) if chains else None,
        },
    )
