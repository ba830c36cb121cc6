"""In headless Chromium against `make run`'s stack: upload a trained model and the digits data through the
page's forms, let the real worker run the intake in the sandbox, validate, and read the clean accuracy;
a pickle that calls os.system is refused and shows up as a security finding."""

import pickle

from tests.attacks.hostile import SystemPayload
from tests.e2e.steps import create_project, sign_in, upload_model
from tests.e2e.test_browser import shoot


def test_upload_validate_and_refuse_in_the_browser(start_dev_server, browser_page, trained_cnn, tmp_path):
    from playwright.sync_api import expect

    server = start_dev_server()
    page = browser_page
    sign_in(page, server, "admin", server.admin_password)
    create_project(page, "Digits")
    page.click("nav.subnav >> text=Models & data")

    page.click("button:has-text('Add the digits datasets')")
    upload_model(page, trained_cnn["safetensors"], "digits student", "student")
    expect(page.get_by_text("uploaded; its intake check is running")).to_be_visible()
    # The worker runs the intake; htmx refreshes the page's live part until it is done.
    expect(page.locator("#model-live .badge", has_text="Ready")).to_be_visible(timeout=120_000)

    page.select_option("#id_dataset", label="digits (test split)")
    page.click("button:has-text('Validate')")
    expect(page.get_by_text("Validation queued")).to_be_visible()
    # Accuracy first, then the confusion matrix drawn, with its counts in a table beside it.
    expect(page.locator("#confusion-matrix .main-svg").first).to_be_visible(timeout=120_000)
    expect(page.locator("table.confusion tbody tr")).to_have_count(10)
    accuracy = float(page.locator("#clean-accuracy strong").inner_text().rstrip(" %"))
    assert accuracy > 80
    shoot(page, "model")

    canary = tmp_path / "CANARY"
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(SystemPayload(canary), protocol=4))
    page.click("nav.subnav >> text=Models & data")
    page.set_input_files("#id_upload", str(evil))
    page.fill("#id_name", "evil")
    page.click("button:has-text('Upload model')")
    expect(page.locator("#model-live .badge", has_text="Rejected")).to_be_visible(timeout=120_000)
    expect(page.locator("[role=alert]")).to_be_visible()
    page.click("nav.subnav >> text=Models & data")
    expect(page.get_by_text("carries a malicious signature")).to_be_visible()
    shoot(page, "models-and-data", full_page=False)
    assert not canary.exists()
