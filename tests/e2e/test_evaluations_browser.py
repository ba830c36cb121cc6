"""In headless Chromium against `make run`'s stack: an assessor uploads the demo's backdoored teacher, runs a
robustness curve, an attack suite and a backdoor scan from the model's page, watches them finish and reads the
results: the drawn curve, the suite's bars and examples, the flagged class with its reversed trigger; then the
project's risk page and the portfolio."""

from tests.attacks.backdoor.conftest import demo, paths  # noqa: F401 - the demo models, built once per session
from tests.e2e.steps import create_project, sign_in, upload_model
from tests.e2e.test_browser import shoot

LONG = 600_000  # ms: the jobs run in the real worker's sandbox on a shared CPU


def run_test(page, **fields) -> None:
    """Fill the model page's security-test form (the validation form above it has fields of the same names)."""
    form = page.locator("form:has(button:has-text('Run test'))")
    form.locator("select[name=kind]").select_option(fields.pop("kind"))
    form.locator("select[name=dataset]").select_option(label="digits (test split)")
    for name, value in fields.items():
        form.locator(f"[name={name}]").fill(str(value))
    form.locator("button:has-text('Run test')").click()


def test_an_assessor_runs_a_curve_a_suite_and_a_backdoor_scan_and_reads_them(start_dev_server, browser_page, paths):  # noqa: F811
    from playwright.sync_api import expect

    server = start_dev_server()
    page = browser_page
    sign_in(page, server, "admin", server.admin_password)
    create_project(page, "Traffic signs")
    page.click("nav.subnav >> text=Models & data")
    page.click("button:has-text('Add the digits datasets')")
    upload_model(page, paths["teacher"], "public teacher", "teacher")
    expect(page.locator("#model-live .badge", has_text="Ready")).to_be_visible(timeout=LONG)
    model_url = page.url

    run_test(page, kind="robustness_curve", eps="0.05, 0.1, 0.2, 0.3", steps=10, sample_limit=200)
    # The job page polls its progress and reloads once when the job ends: then the curve is drawn.
    expect(page.locator("#robustness-curve .main-svg").first).to_be_visible(timeout=LONG)
    expect(page.get_by_text("trustworthy").first).to_be_visible()
    shoot(page, "job-robustness-curve")

    page.goto(model_url)
    run_test(page, kind="attack_suite", eps="0.1", steps=10, sample_limit=100)
    expect(page.locator("#attack-bars .main-svg").first).to_be_visible(timeout=LONG)
    example = page.locator("img.example").first
    expect(example).to_be_visible()
    assert example.evaluate("img => img.complete && img.naturalWidth > 0")
    shoot(page, "job-attack-suite")

    page.goto(model_url)
    run_test(page, kind="backdoor_scan", steps=300, sample_limit=300)
    expect(page.locator("#anomaly-bars .main-svg").first).to_be_visible(timeout=LONG)
    # The combined verdict leads, then Neural Cleanse's own headline names the flagged class.
    expect(page.locator(".lead", has_text="Neural Cleanse flags")).to_contain_text("0")
    trigger = page.locator('img[alt="Reversed trigger of class 0"]').first
    expect(trigger).to_be_visible()
    assert trigger.evaluate("img => img.complete && img.naturalWidth > 0")  # the PNG really loaded
    shoot(page, "job-backdoor-scan")

    page.click("nav.subnav >> text=Risk")
    expect(page.locator("#risk-heatmap .main-svg").first).to_be_visible()
    expect(page.get_by_text("backdoor suspected").first).to_be_visible()
    shoot(page, "risk")
    page.click("nav.topnav >> text=Portfolio")
    expect(page.locator("#portfolio-bars .main-svg").first).to_be_visible()
    expect(page.get_by_role("link", name="Traffic signs")).to_be_visible()
    shoot(page, "portfolio")
