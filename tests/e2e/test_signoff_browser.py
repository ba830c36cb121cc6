"""Sign-off guard rails and the report's PDF in headless Chromium, on a server started as `make run` starts it
(DEBUG on): the problems are listed before Submit and Approve, which then need a confirmation with a reason; the
submitter sees no Approve button; the report downloads as a PDF led by the verdict; a non-member gets the plain
404 page."""

import io
import re

from tests.e2e.steps import create_project, settled, sign_in, sign_out

REVIEWER = ("rita", "reviewer password 42")
OUTSIDER = ("olga", "outsider password 42")
PROJECT = "Sign-off guard rails"


def test_signing_off_despite_problems_needs_a_reason_and_the_report_downloads_as_a_pdf(start_dev_server, browser_page):
    from playwright.sync_api import expect
    from pypdf import PdfReader

    server = start_dev_server()
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user('{REVIEWER[0]}', password='{REVIEWER[1]}'); "
        f"User.objects.create_user('{OUTSIDER[0]}', password='{OUTSIDER[1]}')",
    )
    page = browser_page
    sign_in(page, server, "admin", server.admin_password)
    create_project(page, PROJECT, "low")
    project_url = re.search(r"/projects/\d+/", page.url).group(0)
    page.click("text=Members")
    page.fill("#id_username", REVIEWER[0])
    page.select_option("#id_role", "reviewer")
    page.click("button:has-text('Add member')")
    expect(page.get_by_text(f"{REVIEWER[0]} added.")).to_be_visible()

    # One answer in the browser, then "don't know" for the rest (the worst case): risks above the low appetite.
    page.click("nav.subnav >> text=Assessment")
    page.locator("#q-context\\.uses_pretrained").get_by_label("Yes").check()
    settled(page)
    server.manage(
        "shell",
        "-c",
        "from riskapp.assessments.bank import load_bank; from riskapp.assessments.models import AssessmentVersion; "
        f"v = AssessmentVersion.objects.get(project__name='{PROJECT}'); "
        "v.answers = {q.id: 'unknown' for q in load_bank().questions} | v.answers; v.save()",
    )
    page.reload()
    problems = page.locator("#signoff-problems")
    expect(problems).to_contain_text("Before you submit: this assessment is not ready.")
    expect(problems).to_contain_text("above the project's risk appetite (low) without an accepted treatment")

    # Submitting without the confirmation and a reason is refused, and says what to do.
    page.fill("#id_reason_submit", "Pilot only.")
    page.click("button:has-text('Submit for review')")
    expect(page.get_by_text("To submit anyway, tick the confirmation and give a reason.")).to_be_visible()
    expect(page.locator("#assessment-status .badge")).to_have_text("Draft")
    page.check("#id_confirm_submit")
    page.fill("#id_reason_submit", "Pilot release to one customer; risks tracked.")
    page.click("button:has-text('Submit for review')")
    expect(page.get_by_text("Version 1 submitted for review.")).to_be_visible()

    # The submitter (an owner, who may review other people's submissions) sees no Approve button.
    expect(page.locator("button", has_text="Approve")).to_have_count(0)
    expect(page.locator("#assessment-status")).to_contain_text("You submitted this version")
    sign_out(page)

    sign_in(page, server, *REVIEWER)
    page.click(f"text={PROJECT}")
    page.click("nav.subnav >> text=Assessment")
    expect(page.locator("#signoff-problems")).to_contain_text("Before you approve")
    page.click("button:has-text('Approve')")
    expect(page.get_by_text("To approve anyway, tick the confirmation and give a reason.")).to_be_visible()
    expect(page.locator("#assessment-status .badge")).to_have_text("Submitted for review")
    page.check("#id_confirm_approve")
    page.fill("#id_reason_approve", "Accepted for the pilot; treatments due next sprint.")
    page.click("button:has-text('Approve')")
    expect(page.get_by_text("Version 1 approved.")).to_be_visible()

    # The report, and its PDF: the verdict and its reasons first.
    page.click("nav.subnav >> text=Risk")
    page.click("text=Printable report")
    with page.expect_download() as download:
        page.click("text=Download as PDF")
    assert download.value.suggested_filename == "sign-off-guard-rails-report.pdf"
    content = download.value.path().read_bytes()
    assert content.startswith(b"%PDF-")
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages))
    assert text.index("Ship verdict: Do not ship") < text.index("Executive summary")
    assert "No model version has been uploaded yet" in text
    sign_out(page)

    # In `make run` mode (DEBUG on), a non-member gets the plain 404 page, not Django's debug page.
    sign_in(page, server, *OUTSIDER)
    for path in (project_url, project_url + "risk/report.pdf"):
        response = page.goto(server.base_url + path)
        assert response.status == 404
        expect(page.get_by_text("There is nothing here, or you are not a member of its project.")).to_be_visible()
        assert "URLconf" not in page.content() and "DEBUG = True" not in page.content()
