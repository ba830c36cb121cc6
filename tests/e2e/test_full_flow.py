"""The whole product loop in one headless-Chromium session against `make run`'s stack, through the pages only:
an assessor signs in, creates a project, adds a reviewer on the Members page, answers the whole questionnaire,
uploads a model and its evaluation data, runs the recommended test plan from the register, watches a job's
progress bar until it finishes, reads its chart and numbers, and submits; the reviewer signs in and approves.

Every page is watched for browser console errors, uncaught script errors and Content-Security-Policy
violations (`securitypolicyviolation` events); any of them fails the test.
"""

import datetime
import re

from tests.e2e.steps import create_project, review, settled, sign_in, submit_for_review, upload_model
from tests.e2e.test_browser import shoot

LONG = 600_000  # ms: intake scans and tests run one after another in the real worker's sandbox on a shared CPU

# The answers that decide the test plan, chosen for the cheapest plan that still measures something: a
# validation, a white-box PGD attack and a score-based Square attack (the API returns scores). Every other
# question takes its first option.
ANSWERS = {
    "context.uses_pretrained": "yes",
    "context.security_decision": "no",
    "context.physical_harm": "no",
    "requirements.integrity_need": "moderate",
    "requirements.input_eps": "0.1",
    "requirements.robust_accuracy_target": "0.5",
    "teacher.source": "in_house",
    "teacher.weights_public": "no",
    "fine_tuning.layers": "all",
    "fine_tuning.predictable_labels": "no",
    "fine_tuning.data_origin": "own",
    "fine_tuning.dataset_size": "1797",
    "fine_tuning.outsourced": "no",
    "deployment.api_output": "rounded_scores",
    "operation.continual_learning": "no",
    "operation.risk_owner": "rita (ML security lead)",
    "operation.next_review": (datetime.date.today() + datetime.timedelta(days=180)).isoformat(),
}
PLAN = {"Validation", "Evasion attack PGD", "Evasion attack Square"}  # the plan checklist names tests by label
SAMPLES = "16"  # per test: enough for a number, little enough for a shared CPU


def watch_for_page_errors(page) -> list[str]:
    """Console errors, uncaught exceptions and CSP violations on every page the session opens, as text."""
    problems: list[str] = []

    def on_console(message) -> None:
        if message.type == "error":
            problems.append(f"console on {page.url}: {message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"script error on {page.url}: {error}"))
    page.expose_binding(
        "riskappCspViolation", lambda source, text: problems.append(f"CSP violation on {source['frame'].url}: {text}")
    )
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => window.riskappCspViolation("
        "e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber))"
    )
    return problems


def answer_the_whole_questionnaire(page) -> None:
    """Answer the first unanswered question shown until none is left: answers reveal conditional questions, and
    every answer is autosaved by htmx, which swaps in the questionnaire again."""
    from playwright.sync_api import expect

    for _ in range(100):
        unanswered = page.locator("#questionnaire .question.unanswered")
        if unanswered.count() == 0:
            return
        question = unanswered.first
        question_id = question.get_attribute("id").removeprefix("q-")
        wanted = ANSWERS.get(question_id)
        choices = question.locator("input[type=radio], input[type=checkbox]")
        if choices.count():
            choice = question.locator(f"input[value='{wanted}']") if wanted else choices.first
            choice.check()
        else:
            field = question.locator("input[type=number], input[type=date], textarea")
            field.fill(wanted or "n/a")
            field.press("Tab")  # the change event that htmx saves on
        expect(page.locator(f"[id='q-{question_id}']")).not_to_have_class(re.compile(r"\bunanswered\b"))
        settled(page)
    raise AssertionError("the questionnaire still had unanswered questions after 100 answers")


def planned_tests(rows) -> set[str]:
    """The plan checklist's tests: the job kind, and the attack where the plan names one (its parameters read
    "PGD; ε 0.1 (L∞); 20 steps": the attack first)."""
    tests = set()
    for row in rows.all():
        kind, params = row.locator("td").nth(0).inner_text(), row.locator("td").nth(1).inner_text()
        tests.add(f"{kind} {params.split(';')[0].strip()}" if kind == "Evasion attack" else kind)
    return tests


def watch_progress(page, timeout_s: float) -> list[tuple[str, int]]:
    """(status, progress) as the job page showed them, read every 0.25 s until the job succeeded. htmx polls the
    progress every 2 s and reloads the page once when the job ends."""
    from playwright.sync_api import Error

    seen: list[tuple[str, int]] = []
    read = """() => {
        const box = document.querySelector('#job-progress');
        if (!box) return null;
        return [box.querySelector('.badge').textContent.trim(),
                Number(box.querySelector('[role=progressbar]').getAttribute('aria-valuenow'))];
    }"""
    for _ in range(int(timeout_s * 4)):
        try:
            shown = page.evaluate(read)
        except Error:  # the page is reloading
            shown = None
        if shown and (not seen or seen[-1] != tuple(shown)):
            seen.append(tuple(shown))
        if shown and shown[0] in ("Succeeded", "Failed", "Timed out", "Cancelled"):
            return seen
        page.wait_for_timeout(250)
    raise AssertionError(f"the job did not finish in {timeout_s} s; the page showed {seen}")


def wait_until_all_done(page, rows, count: int, timeout_s: float) -> None:
    """Reload the register until every planned test shows "done": its checklist is drawn once per page load."""
    badges = rows.locator(".badge", has_text="done")
    for _ in range(int(timeout_s / 2)):
        if badges.count() == count:
            return
        page.wait_for_timeout(2000)
        page.reload()
    raise AssertionError(f"{badges.count()} of {count} planned tests done after {timeout_s} s")


def test_assessor_runs_the_whole_assessment_and_a_reviewer_approves_it_in_the_browser(
    start_dev_server, browser_page, trained_cnn
):
    from playwright.sync_api import expect

    server = start_dev_server()
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        "User.objects.create_user('rita', password='reviewer password 42')",
    )
    page = browser_page
    problems = watch_for_page_errors(page)

    # Sign in, create the project, make rita its reviewer.
    sign_in(page, server, "admin", server.admin_password)
    expect(page.get_by_role("heading", name="Your projects")).to_be_visible()
    create_project(page, "Digits reader", "medium")
    expect(page.get_by_role("heading", name="Digits reader")).to_be_visible()
    page.click("nav.subnav >> text=Members")
    page.fill("#id_username", "rita")
    page.select_option("#id_role", "reviewer")
    page.click("button:has-text('Add member')")
    expect(page.get_by_text("rita added.")).to_be_visible()

    # The questionnaire, to the end.
    page.click("nav.subnav >> text=Assessment")
    answer_the_whole_questionnaire(page)
    status = page.locator("#assessment-status")
    expect(status).to_contain_text(re.compile(r"(\d+) of \1 questions answered \(100%\)"))
    expect(page.locator("[id='q-operation.feedback_checks']")).to_have_count(0)  # hidden: no continual learning

    # A dataset and a model through the upload forms; the worker's intake checks mark them ready.
    page.click("nav.subnav >> text=Models & data")
    page.set_input_files("#id_dataset_upload", str(trained_cnn["test"]))
    page.fill("#id_dataset_name", "digits test split")
    page.select_option("#id_dataset_purpose", "evaluation")
    page.click("button:has-text('Upload dataset')")
    expect(page.get_by_text("“digits test split” uploaded; its intake check is running.")).to_be_visible()
    upload_model(page, trained_cnn["safetensors"], "digits student", "student")
    expect(page.get_by_text("uploaded; its intake check is running")).to_be_visible()
    expect(page.locator("#model-live .badge", has_text="Ready")).to_be_visible(timeout=LONG)
    page.click("nav.subnav >> text=Models & data")
    dataset_row = page.locator("#inventory-live tr", has_text="digits test split")
    expect(dataset_row.locator(".badge", has_text="Ready")).to_be_visible(timeout=LONG)

    # The recommended plan, run from the register with the cheapest settings the form allows for a real number.
    page.click("nav.subnav >> text=Risk register")
    plan = page.locator("table.plan tbody tr")
    assert planned_tests(plan) == PLAN
    expect(plan.locator(".badge", has_text="not run")).to_have_count(len(PLAN))
    page.select_option("#id_plan_model", label="digits student v1")
    page.select_option("#id_plan_dataset", label="digits test split")
    page.fill("#id_plan_sample_limit", SAMPLES)
    page.click("button:has-text('Run the plan')")
    queued = re.compile(r"Test plan queued on digits student v1: Validation \(job \d+\)")
    expect(page.get_by_text(queued)).to_be_visible()

    # Watch the Square test until it finishes (the worker may run the plan's three jobs in any order).
    square = page.locator("table.plan tbody tr", has_text=re.compile(r"\bSquare; ε"))
    expect(square.locator(".badge")).to_have_text("running")  # queued or running: the checklist says running
    square.locator("a").click()
    expect(page.get_by_role("heading", name=re.compile(r"Job \d+: "))).to_be_visible()
    seen = watch_progress(page, LONG / 1000)
    assert seen[-1] == ("Succeeded", 100), seen
    assert any(status in ("Queued", "Running") and value < 100 for status, value in seen), seen

    # The result page: the chart drawn by plotly.js, and its numbers in a table beside it.
    expect(page.locator("#attack-bars svg.main-svg").first).to_be_visible()
    numbers = page.locator("table#bounded-attacks")
    expect(numbers.locator("tbody tr")).to_have_count(1)
    expect(numbers.locator("tbody tr td").first).to_have_text("Square")
    robust = float(numbers.locator("tbody tr td").nth(2).inner_text().split()[0])  # then its 95% interval
    assert 0.0 <= robust <= 1.0
    shoot(page, "full-flow-result")

    # Every planned test done; the risk page draws the heatmap and lists the model's robust accuracy.
    page.click("nav.subnav >> text=Risk register")
    wait_until_all_done(page, plan, len(PLAN), LONG / 1000)
    page.click("nav.subnav >> text=Risk")
    expect(page.locator("#risk-heatmap svg.main-svg").first).to_be_visible()
    robustness = page.locator("section[aria-labelledby=robustness] table")
    expect(robustness.locator("thead")).to_contain_text("PGD L∞")
    expect(robustness.locator("thead")).to_contain_text("Square")
    expect(robustness.locator("tbody tr", has_text="digits student")).to_have_count(1)

    # Submit; rita approves.
    submit_for_review(page)
    review(
        page,
        server,
        "rita",
        "reviewer password 42",
        "Digits reader",
        "Approve",
        "Robustness measured on the plan's tests; approved.",
    )
    expect(page.get_by_text("Version 1 approved.")).to_be_visible()
    expect(status).to_contain_text("Approved")
    expect(status).to_contain_text("approved by rita")

    # The sign-off history says so.
    page.click("nav.subnav >> text=Risk")
    signoff = page.locator("section[aria-labelledby=signoff]")
    expect(signoff).to_contain_text("Assessment v1: Approved")
    history = signoff.locator("tbody tr").first
    expect(history).to_contain_text("Approved")
    expect(history).to_contain_text("by admin")
    expect(history).to_contain_text("by rita")
    shoot(page, "full-flow-signed-off", full_page=False)

    assert problems == [], "\n".join(problems)
