"""In headless Chromium (Debian's package, driven by Playwright): sign in, create a project, run an
environment check and watch it finish, start a speed check and cancel it from its Cancel button.

With RISKAPP_SCREENSHOTS=DIR set (`make screenshots`), the pages are saved there for the README.
"""

import os
import re
from pathlib import Path

SCREENSHOTS = os.environ.get("RISKAPP_SCREENSHOTS")


def shoot(page, name, full_page=True):
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=full_page)


def test_assessor_runs_a_job_and_cancels_another_in_the_browser(start_dev_server, browser_page):
    from playwright.sync_api import expect

    server = start_dev_server()
    page = browser_page
    page.goto(server.base_url + "/")
    shoot(page, "sign-in")
    page.fill("#id_username", "admin")
    page.fill("#id_password", server.admin_password)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Your projects")).to_be_visible()

    page.click("text=New project")
    page.fill("#id_name", "Traffic-sign classifier")
    page.fill("#id_description", "Student fine-tuned from a public ImageNet teacher.")
    page.select_option("#id_risk_appetite", "low")
    page.click("button:has-text('Save')")
    expect(page.get_by_role("heading", name="Traffic-sign classifier")).to_be_visible()

    # The overview leads with the verdict; the worker checks wait in the collapsed Workers section.
    expect(page.locator("#workers")).not_to_have_attribute("open", "")
    page.click("#workers summary")
    page.select_option("#id_environment_check-queue", "cpu")
    page.click("button:has-text('Run environment check')")
    first = page.locator("#jobs-table tbody tr").last
    # The table is polled by htmx: the row turns to Succeeded without a reload.
    expect(first.get_by_text("Succeeded")).to_be_visible(timeout=120_000)
    expect(first.get_by_text("100%")).to_be_visible()

    page.click("#workers summary")
    page.fill("#id_speed_check-duration_s", "120")
    page.fill("#id_speed_check-size", "128")
    page.click("button:has-text('Run speed check')")
    second = page.locator("#jobs-table tbody tr").first
    expect(second.get_by_text("Running")).to_be_visible(timeout=120_000)
    expect(second.locator(".progress-label")).to_have_text(re.compile(r"^[1-9]\d?% · \d+ batches"), timeout=60_000)
    shoot(page, "project-jobs")
    second.get_by_role("button", name="Cancel").click()
    expect(page.locator("#jobs-table tbody tr").first.get_by_text("Cancelled")).to_be_visible(timeout=60_000)

    page.locator("#jobs-table tbody tr").last.get_by_role("link").first.click()
    expect(page.get_by_text("adversarial_robustness_toolbox")).to_be_visible()
    shoot(page, "job-result")
