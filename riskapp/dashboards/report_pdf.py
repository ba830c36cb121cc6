"""The printable report as a PDF, rendered server-side with WeasyPrint: the verdict and its reasons first.

WeasyPrint lays out HTML and CSS without a browser (it needs Debian's Pango libraries). It is given the report's
own HTML only and fetches nothing while it draws: no stylesheet, image or file from any URL, so names and
descriptions typed by users can never make the server read a file or call a host.
"""

from django.template.loader import render_to_string

from riskapp.dashboards.exports import report_document
from riskapp.projects.models import Project


def report_pdf(project: Project) -> bytes:
    """The project's report (the same content as the report page and its JSON) as PDF bytes."""
    # Imported here: WeasyPrint loads Pango when imported, which only this download needs.
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    html = render_to_string("dashboards/report_pdf.html", {"project": project, "report": report_document(project)})
    return HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=())).write_pdf()
