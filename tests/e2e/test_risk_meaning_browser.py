"""Risk that still means something, in headless Chromium on a server started as `make run` starts it: a new project
reads "not assessed yet" with its completeness (not sixteen criticals), and once the robustness requirement is
answered the Gates page shows the default gates, which an owner can switch off."""

import re

from tests.e2e.steps import create_project, sign_in

PROJECT = "Risk that means something"


def test_a_new_project_is_not_assessed_yet_and_gets_default_gates_from_its_answers(start_dev_server, browser_page):
    from playwright.sync_api import expect

    server = start_dev_server()
    page = browser_page
    sign_in(page, server, "admin", server.admin_password)
    create_project(page, PROJECT, "medium")
    assert re.search(r"/projects/\d+/", page.url)

    page.click("nav.subnav >> text=Risk register")
    expect(page.locator("#completeness")).to_contain_text("0 of 64 questions answered")
    expect(page.locator("#completeness")).to_contain_text("16 of 16 threats are not assessed yet")
    expect(page.locator("table.register .badge-critical")).to_have_count(0)
    expect(page.locator("table.register .badge-not_assessed").first).to_have_text("not assessed yet")

    page.click("nav.subnav >> text=Risk")
    expect(page.locator("#completeness")).to_contain_text("16 of 16 threats not assessed yet")

    # A teacher is used and the robustness requirement is 0.6: the default gates follow.
    server.manage(
        "shell",
        "-c",
        "from riskapp.assessments.models import AssessmentVersion; from django.contrib.auth.models import User; "
        "from riskapp.assessments.services import answer_set; from riskapp.projects.models import Project; "
        f"p = Project.objects.get(name='{PROJECT}'); u = User.objects.get(username='admin'); "
        "answer_set(actor=u, project=p, question_id='context.uses_pretrained', raw='yes'); "
        "answer_set(actor=u, project=p, question_id='requirements.robust_accuracy_target', raw='0.6')",
    )
    page.click("nav.subnav >> text=Gates")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("table .badge", has_text="default")).to_have_count(3)
    expect(rows.first).to_contain_text("robust accuracy ≥ 0.6 under pgd_linf at ε 0.03")
    expect(rows.nth(1)).to_contain_text("the model is fine-tuned from a pre-trained teacher")

    # The owner switches the backdoor default off: a saved, disabled gate takes its place.
    rows.nth(1).locator("button:has-text('Disable')").click()
    expect(page.get_by_text("Gate added: no backdoor flagged by the latest scan.")).to_be_visible()
    backdoor = page.locator("table tbody tr", has_text="No backdoor flagged")
    expect(backdoor.locator(".badge", has_text="default")).to_have_count(0)
    expect(backdoor.locator("td").nth(1)).to_have_text("no")
    expect(page.locator("table .badge", has_text="default")).to_have_count(2)

    page.goto(server.base_url + "/portfolio/")
    expect(page.locator("table.portfolio")).to_contain_text("2 of 64 questions answered")
