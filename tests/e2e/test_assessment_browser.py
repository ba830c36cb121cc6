"""The assessment flow in headless Chromium: an assessor answers (autosaved by htmx), reads the register's
"why", submits; a reviewer returns it, then approves the resubmission; the history shows the diff."""

import re

from tests.e2e.steps import (
    confirm_signoff_if_asked,
    create_project,
    review,
    settled,
    sign_in,
    sign_out,
    submit_for_review,
)
from tests.e2e.test_browser import shoot


def test_questionnaire_register_and_sign_off_in_the_browser(start_dev_server, browser_page):
    from playwright.sync_api import expect

    server = start_dev_server()
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        "User.objects.create_user('rita', password='reviewer password 42')",
    )
    page = browser_page
    sign_in(page, server, "admin", server.admin_password)
    create_project(page, "Traffic-sign classifier", "medium")
    page.click("text=Members")
    page.fill("#id_username", "rita")
    page.select_option("#id_role", "reviewer")
    page.click("button:has-text('Add member')")
    expect(page.get_by_text("rita added.")).to_be_visible()

    page.click("nav.subnav >> text=Assessment")
    # Each click autosaves through htmx; the teacher section appears once a pre-trained model is used.
    page.locator("#q-context\\.uses_pretrained").get_by_label("Yes").check()
    expect(page.locator("#q-teacher\\.source")).to_be_visible()
    settled(page)
    page.locator("#q-teacher\\.source").get_by_label("Downloaded from a public model hub").check()
    expect(page.locator("#area-teacher .progress-label")).to_contain_text("1 of")
    settled(page)
    expect(page.locator("#q-teacher\\.weights_public")).to_be_visible()
    page.locator("#q-teacher\\.weights_public").get_by_label("Yes").check()
    expect(page.locator("#area-teacher .progress-label")).to_contain_text("2 of")
    expect(page.locator("#q-teacher\\.weights_public [role=status]")).to_have_text("Saved")
    shoot(page, "questionnaire", full_page=False)

    # A number outside the question's range is refused beside its field; the saved value stays.
    settled(page)
    target = page.locator("#q-requirements\\.robust_accuracy_target input[type=number]")
    target.fill("0.6")
    target.press("Tab")
    expect(page.locator("#q-requirements\\.robust_accuracy_target [role=status]")).to_have_text("Saved")
    settled(page)
    target = page.locator("#q-requirements\\.robust_accuracy_target input[type=number]")
    target.fill("5")
    target.press("Tab")
    refused = page.locator("#q-requirements\\.robust_accuracy_target [role=alert]")
    expect(refused).to_contain_text("Not saved: expected a number between 0")
    expect(page.locator("#q-requirements\\.robust_accuracy_target input[type=number]")).to_have_value("0.6")

    page.click("nav.subnav >> text=Risk register")
    expect(page.locator("#risk-heatmap .main-svg").first).to_be_attached()  # plotly drew the heatmap
    shoot(page, "register", full_page=False)
    row = page.locator("#t-evasion_transfer")
    row.get_by_text("Why?").click()
    expect(row.locator("details ol li").first).to_be_visible()

    submit_for_review(page)
    review(
        page,
        server,
        "rita",
        "reviewer password 42",
        "Traffic-sign classifier",
        "Return with comments",
        "Pin the teacher's hash before approval.",
    )
    expect(page.get_by_text("Version 1 returned to the assessors.")).to_be_visible()
    sign_out(page)

    sign_in(page, server, "admin", server.admin_password)
    page.click("text=Traffic-sign classifier")
    page.click("nav.subnav >> text=Assessment")
    expect(page.get_by_text("Pin the teacher's hash before approval.")).to_be_visible()
    page.locator("#q-teacher\\.pinned").get_by_label("Yes, in place").check()
    expect(page.locator("#q-teacher\\.pinned input[value=yes]")).to_be_checked()
    confirm_signoff_if_asked(page, "submit")
    page.click("button:has-text('Submit for review')")
    sign_out(page)

    sign_in(page, server, "rita", "reviewer password 42")
    page.click("text=Traffic-sign classifier")
    page.click("nav.subnav >> text=Assessment")
    confirm_signoff_if_asked(page, "approve")
    page.click("button:has-text('Approve')")
    expect(page.get_by_text("Version 1 approved.")).to_be_visible()
    sign_out(page)

    # A later edit starts version 2; the history compares the two.
    sign_in(page, server, "admin", server.admin_password)
    page.click("text=Traffic-sign classifier")
    page.click("nav.subnav >> text=Assessment")
    page.locator("#q-teacher\\.source").get_by_label("Trained by us").check()
    expect(page.locator("#assessment-status")).to_contain_text("Version 2")
    page.click("nav.subnav >> text=History")
    page.check("input[name=a][value='1']")
    page.check("input[name=b][value='2']")
    page.click("button:has-text('Compare')")
    expect(page.get_by_role("heading", name=re.compile("v1 → v2"))).to_be_visible()
    expect(page.locator("del", has_text="Downloaded from a public model hub")).to_be_visible()
    expect(page.locator("ins", has_text="Trained by us")).to_be_visible()
    shoot(page, "history")
