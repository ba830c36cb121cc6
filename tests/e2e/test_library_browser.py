"""A timm student and a folder of images, through the pages only, against `make run`'s stack: the searchable
architecture field, the card's pre-processing, an image-folder zip prepared for the model, the dataset page's
class counts and thumbnails, the recommended test plan run from the register, and its results read."""

import re

from tests import library_models as made
from tests.e2e.steps import create_project, settled, sign_in
from tests.e2e.test_browser import shoot
from tests.e2e.test_full_flow import (
    LONG,
    answer_the_whole_questionnaire,
    planned_tests,
    wait_until_all_done,
    watch_for_page_errors,
)

PLAN = {"Validation", "Evasion attack PGD", "Evasion attack Square"}  # the plan checklist names tests by label


def test_timm_student_with_an_image_folder_runs_the_plan_in_the_browser(start_dev_server, browser_page, tmp_path):
    from playwright.sync_api import expect

    student = made.timm_student(tmp_path / "model.safetensors")
    images = made.image_folder_zip(tmp_path / "colours.zip", count_per_class=6, top="colours/")
    server = start_dev_server()
    page = browser_page
    problems = watch_for_page_errors(page)
    sign_in(page, server, "admin", server.admin_password)
    create_project(page, "Colour sorter", "medium")
    page.click("nav.subnav >> text=Assessment")
    answer_the_whole_questionnaire(page)

    # The architecture field searches the catalogue as the user types (htmx fills its datalist).
    page.click("nav.subnav >> text=Models & data")
    page.set_input_files("#id_upload", str(student))
    page.fill("#id_name", "colour student")
    page.select_option("#id_role", "student")
    page.locator("#id_architecture").press_sequentially("test_res", delay=30)
    expect(page.locator("#id_architecture-options option[value='timm/test_resnet']")).to_have_count(1)
    page.fill("#id_architecture", "timm/test_resnet")
    page.fill("#id_num_classes", "3")
    page.fill("#id_class_names", "blue, green, red")
    page.fill("#id_preprocessing", '{"input_size": [3, 64, 64]}')
    page.click("button:has-text('Upload model')")
    expect(page.locator("#model-live .badge", has_text="Ready")).to_be_visible(timeout=LONG)
    expect(page.locator("#model-live")).to_contain_text("from the model card")
    expect(page.locator("#model-live")).to_contain_text("3×64×64")

    # The image folder, prepared for that model: its size, crop and class names.
    page.click("nav.subnav >> text=Models & data")
    page.set_input_files("#id_dataset_upload", str(images))
    page.fill("#id_dataset_name", "colour photos")
    page.select_option("#id_dataset_purpose", "evaluation")
    page.select_option("#id_dataset_for_model", label="colour student v1")
    page.click("button:has-text('Upload dataset')")
    expect(page.get_by_text("“colour photos” uploaded; its intake check is running.")).to_be_visible()
    page.click("a:has-text('colour photos')")
    expect(page.locator("#dataset-live .badge", has_text="Ready")).to_be_visible(timeout=LONG)
    counts = page.locator("table.class-counts tbody tr")
    expect(counts).to_have_count(3)
    expect(counts.nth(2)).to_contain_text("red")
    expect(counts.nth(2)).to_contain_text("6")
    expect(page.locator("img[alt='example of green']").first).to_be_visible()
    # The thumbnails load lazily (a wide table scrolls inside its wrapper): bring each into view, then every one
    # must have decoded (a broken image never does, and the wait times out).
    thumbnails = page.locator("img[alt^='example of']")
    for i in range(thumbnails.count()):
        thumbnails.nth(i).scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"img[alt^='example of']\")].every(e => e.complete && e.naturalWidth > 0)"
    )
    shoot(page, "dataset-image-folder")

    # The recommended plan, from the register, on the timm student and the image folder.
    page.click("nav.subnav >> text=Risk register")
    plan = page.locator("table.plan tbody tr")
    expect(plan.first).to_be_visible()  # the register has loaded (reading rows does not wait)
    assert planned_tests(plan) >= PLAN
    page.select_option("#id_plan_model", label="colour student v1")
    page.select_option("#id_plan_dataset", label="colour photos")
    page.fill("#id_plan_sample_limit", "12")
    page.click("button:has-text('Run the plan')")
    expect(page.get_by_text(re.compile(r"Test plan queued on colour student v1"))).to_be_visible()
    settled(page)
    wait_until_all_done(page, plan, plan.count(), LONG / 1000)

    # The PGD result: robust accuracy measured in the images' pixel space, with the pre-processing named.
    plan.filter(has_text=re.compile(r"\bPGD; ε")).locator("a").click()
    expect(page.get_by_role("heading", name=re.compile(r"Job \d+: "))).to_be_visible()
    numbers = page.locator("table#bounded-attacks")
    expect(numbers.locator("tbody tr td").first).to_have_text("PGD L∞")
    robust = float(numbers.locator("tbody tr td").nth(2).inner_text().split()[0])  # then its 95% interval
    clean = float(page.locator("p:has-text('clean accuracy') strong").first.inner_text())
    assert clean == 1.0 and 0.0 <= robust <= clean
    expect(page.locator(".preprocessing")).to_contain_text("normalised with mean 0.5, 0.5, 0.5")
    shoot(page, "library-model-result")
    assert problems == [], "\n".join(problems)
