"""In headless Chromium against `make run`'s stack: an assessor starts a hardening job (all-layer fine-tuning, one
epoch) on the demo's head-only student from its page, the real worker runs it, and the result page shows the
before / after table, the per-epoch chart and the link to the model's new version."""

from tests.attacks.backdoor.conftest import demo, paths  # noqa: F401 - the demo models, built once per session
from tests.e2e.steps import create_project, sign_in, upload_model
from tests.e2e.test_browser import shoot

LONG = 600_000  # ms: the job runs in the real worker's sandbox on a shared CPU


def test_an_assessor_hardens_a_model_and_reads_before_and_after(start_dev_server, browser_page, paths):  # noqa: F811
    from playwright.sync_api import expect

    server = start_dev_server()
    page = browser_page
    sign_in(page, server, "admin", server.admin_password)
    create_project(page, "Hardening")
    page.click("nav.subnav >> text=Models & data")
    page.click("button:has-text('Add the digits datasets')")
    upload_model(page, paths["student_head"], "student", "student")
    expect(page.locator("#model-live .badge", has_text="Ready")).to_be_visible(timeout=LONG)

    form = page.locator("form:has(button:has-text('Run test'))")
    form.locator("select[name=kind]").select_option("hardening")
    form.locator("select[name=method]").select_option("finetune")
    form.locator("select[name=dataset]").select_option(label="digits (train split)")
    form.locator("select[name=evaluation]").select_option(label="digits (test split)")
    form.locator("[name=epochs]").fill("1")
    form.locator("[name=sample_limit]").fill("300")
    form.locator("button:has-text('Run test')").click()

    # The job page polls its progress and reloads once when the job ends: then the chart is drawn.
    expect(page.locator("#hardening-history .main-svg").first).to_be_visible(timeout=LONG)
    table = page.locator("table", has_text="Before and after")
    expect(table.locator("tbody tr", has_text="Clean accuracy")).to_be_visible()
    expect(page.locator(".lead a", has_text="student v2")).to_be_visible()
    shoot(page, "job-hardening")
