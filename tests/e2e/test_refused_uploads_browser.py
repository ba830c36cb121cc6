"""In headless Chromium against `make run`'s stack: a .txt uploaded as a model is refused by the form before
anything is stored or queued; a file the intake job refuses is deleted from its page by the assessor who
uploaded it."""

import zipfile

from tests.e2e.steps import create_project, sign_in, upload_model


def test_a_txt_model_is_refused_at_upload_and_a_refused_upload_is_deleted(start_dev_server, browser_page, tmp_path):
    from playwright.sync_api import expect

    notes = tmp_path / "notes.txt"
    notes.write_text("These are my notes, not a model.\n")
    archive = tmp_path / "weights.zip"  # a zip passes the first-bytes check; the intake finds no checkpoint in it
    with zipfile.ZipFile(archive, "w") as folder:
        folder.writestr("readme.md", "Weights are on the shared drive.\n")

    server = start_dev_server()
    page = browser_page
    sign_in(page, server, "admin", server.admin_password)
    create_project(page, "Uploads")
    page.click("nav.subnav >> text=Models & data")

    upload_model(page, notes, "my notes", "other")
    expect(page.get_by_text("“notes.txt” cannot be taken in as a model")).to_be_visible()
    expect(page.get_by_text("Upload a model as safetensors weights")).to_be_visible()
    expect(page.get_by_text("No models yet.")).to_be_visible()  # nothing stored, no intake queued

    upload_model(page, archive, "archive", "other")
    expect(page.get_by_text("uploaded; its intake check is running")).to_be_visible()
    expect(page.locator("#model-live .badge", has_text="Rejected")).to_be_visible(timeout=120_000)
    page.click("button:has-text('Delete this refused upload')")
    expect(page.get_by_text("“archive” and its stored file were deleted.")).to_be_visible()
    expect(page.get_by_text("No models yet.")).to_be_visible()
