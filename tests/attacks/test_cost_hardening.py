"""Cost of a hardening job: epochs × samples × passes of its method, plus the before / after measurements."""

from attacks.cost import HARDENING_DEFAULTS, ROBUST_EVALUATIONS, STEP_SECONDS, Work, job_work
from attacks.hardening import harden, measure


def test_the_estimates_defaults_are_the_engines():
    settings = harden._settings({"method": "adversarial", "eps": 0.1})
    assert {name: settings[name] for name in HARDENING_DEFAULTS} == HARDENING_DEFAULTS
    assert tuple(measure.ROBUST_EVALUATIONS) == ROBUST_EVALUATIONS


def test_clean_methods_do_one_pass_per_sample_and_epoch():
    # 100 samples are 2 batches of 64 an epoch.
    assert job_work("hardening", {"method": "finetune", "epochs": 3}, samples=100, num_classes=10) == Work(300, 200, 6)
    assert job_work("hardening", {"method": "unlearn"}, samples=100, num_classes=10) == Work(500, 200, 10)


def test_adversarial_methods_pay_for_their_attack_steps_and_the_robust_evaluation():
    pgd = job_work("hardening", {"method": "adversarial", "epochs": 2}, samples=100, num_classes=10)
    trades = job_work("hardening", {"method": "trades", "epochs": 2}, samples=100, num_classes=10)
    robust = 2 * 10 * 100 * 100  # APGD-CE + 9 APGD-T runs of 100 steps on 100 samples, before and after
    assert pgd == Work(2 * 11 * 100 + robust, 200, 2 * 11 * 2)  # each attack step on a batch is a step too
    assert trades == Work(2 * 12 * 100 + robust, 200, 2 * 12 * 2)


def test_autoattack_adds_fab_and_square_to_the_robust_evaluation():
    params = {"method": "adversarial", "epochs": 1, "eval_steps": 100, "robust_limit": 50}
    apgd = job_work("hardening", params, samples=100, num_classes=10)
    full = job_work("hardening", params | {"robust_evaluation": "autoattack"}, samples=100, num_classes=10)
    # Per sample, before and after: FAB-T's 9 targets × 100 steps (a gradient and a forward each) and 5,000
    # Square queries.
    assert full.gradients - apgd.gradients == 2 * 50 * 900
    assert full.forwards - apgd.forwards == 2 * 50 * (900 + 5000)
    timing = {"forward_s": 0.001, "gradient_s": 0.003}
    assert full.seconds(timing) > apgd.seconds(timing)
    # On three classes there are two targets to attack.
    few = job_work("hardening", params | {"robust_evaluation": "autoattack"}, samples=100, num_classes=3)
    assert few.gradients == 1 * 11 * 100 + 2 * 50 * (100 + 2 * 100 + 2 * 100)


def test_a_tiny_models_hardening_costs_at_least_a_floor_per_training_step():
    work = job_work("hardening", {"method": "finetune", "epochs": 4, "batch_size": 32}, samples=320, num_classes=10)
    assert work.steps == 4 * 10 and work.seconds({"forward_s": 0.0, "gradient_s": 0.0}) == 40 * STEP_SECONDS
