"""The printable report as a PDF, rendered server-side with WeasyPrint: the verdict and its reasons first.

WeasyPrint lays out HTML and CSS without a browser (it needs Debian's Pango libraries). It is given the report's
own HTML only and fetches nothing while it draws: no stylesheet, image or file from any URL, so names and
descriptions typed by users can never make the server read a file or call a host.
"""

from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from riskapp.assessments.bank import load_bank
from riskapp.assessments.models import RiskTreatment, Treatment
from riskapp.assessments.register import register_rows
from riskapp.assessments.selectors import assessment_latest
from riskapp.audit.models import AuditEvent
from riskapp.charts import evaluations as evaluation_figures
from riskapp.charts import risk as figures
from riskapp.charts.svg import figure_svg
from riskapp.dashboards.exports import report_document
from riskapp.dashboards.risk import curve_series, model_summaries
from riskapp.projects.models import Project

SIGNOFF_ACTIONS = {"assessment.submitted": "Submitted", "assessment.approved": "Approved"}


def report_charts(project: Project) -> list[dict[str, Any]]:
    """The report page's charts (the risk grid, the robustness curves) as static SVG, with the curves' numbers."""
    version = assessment_latest(project=project)
    _, rows = register_rows(project, version.answers if version else {})
    charts = [{"svg": mark_safe(figure_svg(figures.risk_heatmap(rows))), "series": []}]  # noqa: S308 - escaped
    series = curve_series(model_summaries(project)[0])
    if series:
        figure = evaluation_figures.robustness_curves(series, norm=series[0]["norm"])
        charts.append({"svg": mark_safe(figure_svg(figure)), "series": series})  # noqa: S308 - escaped
    return charts


def report_decisions(project: Project) -> dict[str, list[dict[str, Any]]]:
    """Why risks were accepted (each acceptance's rationale) and why a sign-off went ahead despite open problems
    (the reason kept in its audit event)."""
    names = {threat.id: threat.name for threat in load_bank().threats}
    acceptances = [
        {
            "threat": names.get(t.threat_id, t.threat_id),
            "owner": t.owner.get_username() if t.owner else "",
            "expires_on": t.expires_on,
            "rationale": t.rationale,
            "decided_by": t.decided_by.get_username() if t.decided_by else "",
        }
        for t in RiskTreatment.objects.filter(project=project, treatment=Treatment.ACCEPT)
        .select_related("owner", "decided_by")
        .order_by("threat_id")
    ]
    overrides = [
        {
            "action": SIGNOFF_ACTIONS[event.action],
            "by": event.actor.get_username() if event.actor else "",
            "on": event.created_at,
            "reason": event.after["reason"],
            "problems": event.after.get("problems") or [],
        }
        for event in AuditEvent.objects.filter(project_id=project.pk, action__in=SIGNOFF_ACTIONS)
        .select_related("actor")
        .order_by("created_at", "id")
        if event.after and event.after.get("reason")
    ]
    return {"acceptances": acceptances, "overrides": overrides}


def report_pdf_html(project: Project) -> str:
    """The HTML WeasyPrint lays out: the report with its charts as inline SVG and the reasons behind decisions."""
    context = {
        "project": project,
        "report": report_document(project),
        "charts": report_charts(project),
        "decisions": report_decisions(project),
    }
    return render_to_string("dashboards/report_pdf.html", context)


def report_pdf(project: Project) -> bytes:
    """The project's report (the same content as the report page and its JSON) as PDF bytes."""
    # Imported here: WeasyPrint loads Pango when imported, which only this download needs.
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    html = report_pdf_html(project)
    return HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=())).write_pdf()
