"""Cost of a hardening job: epochs × samples × passes of its method, plus the before / after measurements."""

from attacks.cost import HARDENING_DEFAULTS, Work, job_work
from attacks.hardening import harden


def test_the_estimates_defaults_are_the_engines():
    settings = harden._settings({"method": "adversarial", "eps": 0.1})
    assert {name: settings[name] for name in HARDENING_DEFAULTS} == HARDENING_DEFAULTS


def test_clean_methods_do_one_pass_per_sample_and_epoch():
    assert job_work("hardening", {"method": "finetune", "epochs": 3}, samples=100, num_classes=10) == Work(300, 200)
    assert job_work("hardening", {"method": "unlearn"}, samples=100, num_classes=10) == Work(500, 200)


def test_adversarial_methods_pay_for_their_attack_steps_and_the_robust_evaluation():
    pgd = job_work("hardening", {"method": "adversarial", "epochs": 2}, samples=100, num_classes=10)
    trades = job_work("hardening", {"method": "trades", "epochs": 2}, samples=100, num_classes=10)
    robust = 2 * 10 * 100 * 100  # APGD-CE + 9 APGD-T runs of 100 steps on 100 samples, before and after
    assert pgd == Work(2 * 11 * 100 + robust, 200)
    assert trades == Work(2 * 12 * 100 + robust, 200)
