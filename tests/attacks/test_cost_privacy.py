"""What the privacy tasks cost before they run: shadow-model training for membership inference, one copy per
query budget for extraction (attacks.cost.job_work)."""

from attacks.cost import EXTRACTION_DEFAULTS, MEMBERSHIP_DEFAULTS, Work, job_work
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
    # 4 shadows, 2 epochs, 100 records of which 50 members: each shadow trains on 50 records.
    work = job_work("membership_inference", {"shadow_models": 4, "epochs": 2}, samples=100, num_classes=10, members=50)
    assert work == Work(gradients=4 * 2 * 50, forwards=100 + 4 * 100)


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
    assert work == Work(gradients=10 * (20 + 64 + 64), forwards=500 + 497 + 3 * 497)


def test_extraction_from_a_public_teacher_measures_the_teacher_once_more():
    params = {"budgets": [100], "steps": 10}
    scratch = job_work("extraction", params, samples=200, num_classes=10)
    taught = job_work("extraction", params | {"copy_weights": "teacher.safetensors"}, samples=200, num_classes=10)
    assert taught.forwards - scratch.forwards == 200 and taught.gradients == scratch.gradients


def test_extraction_with_default_steps_and_bad_budgets_costs_what_the_engine_would_run():
    assert job_work("extraction", {"budgets": [1000]}, samples=100, num_classes=10).gradients == 500 * 64
    assert job_work("extraction", {"budgets": ["lots"]}, samples=100, num_classes=10).gradients == 0
