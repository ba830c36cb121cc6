"""What the privacy tasks cost before they run: shadow-model training for membership inference, one copy per
query budget for extraction (attacks.cost.job_work)."""

from attacks.cost import EXTRACTION_DEFAULTS, MEMBERSHIP_DEFAULTS, STEP_SECONDS, Work, job_work
from attacks.privacy import extraction, membership


def test_the_estimates_defaults_are_the_engines():
    recipe = membership._recipe({})
    assert {
        "shadow_models": membership.DEFAULT_SHADOWS,
        "epochs": recipe.epochs,
        "batch_size": recipe.batch_size,
    } == MEMBERSHIP_DEFAULTS
    assert EXTRACTION_DEFAULTS["steps"] == extraction.DEFAULT_STEPS


def test_membership_counts_each_shadows_training_and_every_records_answers():
    # 4 shadows, 2 epochs, 100 records of which 50 members: each shadow trains on 50 records, one batch an epoch.
    work = job_work("membership_inference", {"shadow_models": 4, "epochs": 2}, samples=100, num_classes=10, members=50)
    assert work == Work(gradients=4 * 2 * 50, forwards=100 + 4 * 100, steps=4 * 2 * 1)


def test_membership_counts_as_many_training_records_per_shadow_as_the_engine_assigns():
    shadows, samples, members = 16, 1797, 200
    keep = membership.shadow_assignment(samples, shadows, members, seed=0)
    work = job_work(
        "membership_inference",
        {"shadow_models": shadows, "epochs": 1},
        samples=samples,
        num_classes=10,
        members=members,
    )
    assert work.gradients == keep.sum()


def test_membership_without_a_member_count_is_the_upper_bound():
    known = job_work("membership_inference", {"shadow_models": 8}, samples=1000, num_classes=10, members=500)
    unknown = job_work("membership_inference", {"shadow_models": 8}, samples=1000, num_classes=10)
    assert unknown.gradients == 8 * 20 * 1000 * 7 / 8 > known.gradients
    assert unknown.forwards == known.forwards


def test_extraction_trains_one_copy_per_budget_for_the_same_steps():
    params = {"budgets": [500, 20, 100], "steps": 10, "batch_size": 64}
    work = job_work("extraction", params, samples=497, num_classes=10)
    # A copy on 20 queries sees batches of 20; the others batches of 64. The model answers the largest budget
    # and the evaluation set; each copy answers the evaluation set.
    assert work == Work(gradients=10 * (20 + 64 + 64), forwards=500 + 497 + 3 * 497, steps=3 * 10)


def test_extraction_from_a_public_teacher_measures_the_teacher_once_more():
    params = {"budgets": [100], "steps": 10}
    scratch = job_work("extraction", params, samples=200, num_classes=10)
    taught = job_work("extraction", params | {"copy_weights": "teacher.safetensors"}, samples=200, num_classes=10)
    assert taught.forwards - scratch.forwards == 200 and taught.gradients == scratch.gradients


def test_extraction_with_default_steps_and_bad_budgets_costs_what_the_engine_would_run():
    assert job_work("extraction", {"budgets": [1000]}, samples=100, num_classes=10).gradients == 500 * 64
    assert job_work("extraction", {"budgets": ["lots"]}, samples=100, num_classes=10).gradients == 0


def test_a_bigger_training_set_costs_membership_inference_more():
    held_out = 300
    costs = [
        job_work("membership_inference", {}, samples=held_out + members, num_classes=10, members=members)
        for members in (100, 300, 1000)
    ]
    assert costs[0].gradients < costs[1].gradients < costs[2].gradients
    assert costs[0].steps < costs[1].steps < costs[2].steps


def test_every_training_step_costs_at_least_the_floor_however_small_the_model():
    free = {"forward_s": 0.0, "gradient_s": 0.0}  # a model whose passes take no time at all
    shadows = job_work("membership_inference", {"shadow_models": 8, "epochs": 10}, samples=640, num_classes=10)
    # 8 shadows of 10 epochs, each on 7/8 of the 640 records: 560 records, 9 batches of 64 an epoch.
    assert shadows.steps == 8 * 10 * 9 and shadows.seconds(free) == shadows.steps * STEP_SECONDS
    copies = job_work("extraction", {"budgets": [100, 1000], "steps": 300}, samples=100, num_classes=10)
    assert copies.seconds(free) == 2 * 300 * STEP_SECONDS
