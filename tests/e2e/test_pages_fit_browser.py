"""Pages that fit, in headless Chromium on a server started as `make run` starts it: every main page of a project
with results (the load-test generator's shapes: attacks, curves, backdoor scans, lineage) fits a 1,280 px window
and a 375 px phone: nothing spills the page sideways, no table cell hides part of its text, and at 1,280 px no
table needs its sideways scroll bar."""

import re

from tests.e2e.steps import sign_in

WIDTHS = (1280, 375)
FIT = """() => {
  const clipped = [];
  document.querySelectorAll('td, th').forEach(cell => {
    const style = getComputedStyle(cell);
    const hides = style.overflowX === 'hidden' || style.overflowX === 'clip' || style.textOverflow === 'ellipsis';
    if (hides && cell.scrollWidth > cell.clientWidth) clipped.push(cell.textContent.trim().slice(0, 60));
  });
  const scrolled = [];  // a table wider than its box, which then scrolls it sideways (fine on a phone only)
  document.querySelectorAll('.table-wrap > table').forEach(table => {
    if (table.scrollWidth > table.parentElement.clientWidth + 1)
      scrolled.push((table.caption ? table.caption.textContent : table.className).trim().slice(0, 60));
  });
  return {width: document.documentElement.scrollWidth, clipped: clipped, scrolled: scrolled};
}"""


def project_pages(server) -> list[str]:
    """The pages of the first generated project, with a result page of every kind of job it has."""
    out = server.manage(
        "shell",
        "-c",
        "from riskapp.jobs.models import Job; from riskapp.projects.models import Project; "
        "p = Project.objects.order_by('pk').first(); print('project', p.pk); "
        "[print('job', j.pk) for j in {j.kind: j for j in Job.objects.filter(project=p)}.values()]; "
        "[print('model', m) for m in p.models.values_list('pk', flat=True)]",
    )
    project = re.search(r"project (\d+)", out).group(1)
    base = f"/projects/{project}/"
    pages = [base, base + "risk/", base + "risk/teachers/", base + "risk/trends/", base + "risk/report/"]
    pages += [base + "assessment/", base + "assessment/register/", base + "models/", base + "gates/", "/portfolio/"]
    pages += [f"{base}jobs/{pk}/" for pk in re.findall(r"job (\d+)", out)]
    pages += [f"{base}models/{pk}/" for pk in re.findall(r"model (\d+)", out)]
    return pages


def test_every_page_fits_the_window_and_no_table_cell_is_clipped(start_dev_server, browser_page):
    server = start_dev_server()
    server.manage("generate_projects", "--projects", "3", "--jobs", "40", "--user", "admin")
    page = browser_page
    sign_in(page, server, "admin", server.admin_password)
    pages = project_pages(server)
    assert len(pages) > 12
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for path in pages:
            response = page.goto(server.base_url + path)
            assert response.status == 200, path
            page.wait_for_load_state("networkidle")
            measured = page.evaluate(FIT)
            if measured["width"] > width:
                problems.append(f"{path} is {measured['width']} px wide at {width} px")
            problems += [f"{path}: clipped cell {text!r} at {width} px" for text in measured["clipped"]]
            if width >= 1280:
                problems += [f"{path}: table {text!r} scrolls sideways at {width} px" for text in measured["scrolled"]]
    assert problems == []
