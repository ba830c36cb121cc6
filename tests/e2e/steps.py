"""What a user does in the browser, step by step, shared by the browser tests."""


def settled(page) -> None:
    """Wait until htmx has swapped and processed the last response: a click on inputs htmx has not processed
    yet sends nothing (a person never clicks within those milliseconds; a test does)."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )
    page.wait_for_timeout(100)


def sign_in(page, server, username, password):
    page.goto(server.base_url + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def sign_out(page):
    page.click("nav.topnav button:has-text('Sign out')")


def create_project(page, name, appetite=None):
    page.click("text=New project")
    page.fill("#id_name", name)
    if appetite is not None:
        page.select_option("#id_risk_appetite", appetite)
    page.click("button:has-text('Save')")


def upload_model(page, path, name, role, architecture="cnn-digits", classes=10):
    """Fill and send the Models & data page's model upload form (the page must be open)."""
    page.set_input_files("#id_upload", str(path))
    page.fill("#id_name", name)
    page.select_option("#id_role", role)
    page.fill("#id_architecture", architecture)
    page.fill("#id_num_classes", str(classes))
    page.click("button:has-text('Upload model')")


SIGNOFF_REASON = "Pilot release; the open items are tracked on the risk register."


def confirm_signoff_if_asked(page, action, reason=SIGNOFF_REASON):
    """When the assessment page lists open problems, tick the sign-off confirmation ("submit" or "approve") and
    give a reason, as a user signing off despite them does."""
    settled(page)  # the status panel loads itself with the page, and again after each saved answer
    page.wait_for_selector("#assessment-status[data-checked]")
    settled(page)
    if page.locator("#signoff-problems").count():
        page.check(f"#id_confirm_{action}")
        page.fill(f"#id_reason_{action}", reason)


def submit_for_review(page):
    from playwright.sync_api import expect

    page.click("nav.subnav >> text=Assessment")
    confirm_signoff_if_asked(page, "submit")
    page.click("button:has-text('Submit for review')")
    expect(page.get_by_text("Version 1 submitted for review.")).to_be_visible()


def review(page, server, reviewer, password, project, button, comment):
    """Sign out, sign in as the reviewer, open the project's assessment and press `button` with a comment."""
    sign_out(page)
    sign_in(page, server, reviewer, password)
    page.click(f"text={project}")
    page.click("nav.subnav >> text=Assessment")
    page.fill("#id_comment", comment)
    if button == "Approve":
        confirm_signoff_if_asked(page, "approve")
    page.click(f"button:has-text('{button}')")
