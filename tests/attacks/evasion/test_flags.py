"""Each validity flag fires on a model built to trip it, and stays quiet on the plain CNN."""

from __future__ import annotations

import functools

from attacks.evasion import autoattack as aa
from attacks.evasion import evaluate_suite, robustness_curve
from attacks.evasion.attacks import Settings
from attacks.evasion.flags import black_box_flag, curve_flag, gradient_flag, randomness_flag
from attacks.loading import load_model
from tests.attacks.evasion.conftest import Noisy, Quantised, digits_target


def test_plain_model_raises_no_flag(cnn, digits):
    assert gradient_flag(cnn, digits.x_test[:64], digits.y_test[:64]) is None
    assert randomness_flag(cnn, digits.x_test[:64]) is None


def test_quantised_input_trips_gradient_and_black_box_flags(trained_cnn, digits, ctx):
    target = digits_target(Quantised(load_model(trained_cnn["safetensors"], "cnn-digits", 10)))
    config = Settings(eps=0.25, steps=10, max_queries=200, batch_size=48)
    result = evaluate_suite(target, ["pgd_linf", "square"], digits.x_test[:48], digits.y_test[:48], config, ctx)
    codes = {flag["code"] for flag in result["flags"]}
    assert {"zero_or_nonfinite_gradients", "black_box_beats_white_box"} <= codes, result["attacks"]
    assert not result["trustworthy"] and result["verdict"].startswith("not trustworthy")


def test_quantised_input_trips_the_black_box_flag_inside_autoattack(trained_cnn, digits, ctx, monkeypatch):
    """Zero gradients stall APGD and FAB; the Square stage then fools what they missed, and that is the flag."""
    small = functools.partial(aa.autoattack, apgd_steps=10, targets=3, fab_steps=10, square_queries=300)
    monkeypatch.setattr(aa, "autoattack", small)
    target = digits_target(Quantised(load_model(trained_cnn["safetensors"], "cnn-digits", 10)))
    config = Settings(eps=0.25, batch_size=48)
    result = evaluate_suite(target, ["autoattack"], digits.x_test[:48], digits.y_test[:48], config, ctx)
    stages = {st["stage"]: st for st in result["attacks"][0]["stages"]}
    assert stages["square"]["fooled"] > 0.01 * 48, stages
    flags = {flag["code"]: flag for flag in result["flags"]}
    assert "black_box_beats_white_box" in flags and "Square stage" in flags["black_box_beats_white_box"]["message"]


def test_autoattack_whose_square_stage_finds_nothing_new_raises_no_black_box_flag():
    def autoattack_entry(square_fooled, samples=200):
        stages = [
            {"stage": "apgd-ce", "attacked": 180, "fooled": 80},
            {"stage": "apgd-t", "attacked": 100, "fooled": 4},
            {"stage": "fab-t", "attacked": 96, "fooled": 0},
            {"stage": "square", "attacked": 96, "fooled": square_fooled},
        ]
        return {"attack": "autoattack", "white_box": True, "eps_bounded": True, "norm": "inf", "robust_accuracy": 0.4,
                "samples": samples, "stages": stages}  # fmt: skip

    assert black_box_flag([autoattack_entry(0)]) is None
    assert black_box_flag([autoattack_entry(2)]) is None  # 1% of the set: within the margin
    assert black_box_flag([autoattack_entry(3)]) is not None


def test_quantised_input_flattens_the_curve(trained_cnn, digits, ctx):
    target = digits_target(Quantised(load_model(trained_cnn["safetensors"], "cnn-digits", 10)))
    config = Settings(eps=0.1, steps=5, batch_size=64)
    result = robustness_curve(target, digits.x_test[:64], digits.y_test[:64], [0.01, 0.03, 0.1], config, ctx)
    assert "robust_accuracy_not_falling" in {flag["code"] for flag in result["flags"]}, result["curve"]


def test_dropout_in_train_mode_trips_randomised_flag(trained_cnn, digits):
    target = digits_target(Noisy(load_model(trained_cnn["safetensors"], "cnn-digits", 10)).train())
    flag = randomness_flag(target, digits.x_test[:16])
    assert flag is not None and flag["code"] == "randomised_outputs"


def test_curve_flag_rules():
    assert curve_flag([0.1, 0.2, 0.3], [0.6, 0.3, 0.1]) is None
    assert curve_flag([0.1, 0.2], [0.3, 0.5]) is not None  # rising
    assert curve_flag([0.05, 0.1, 0.2], [0.8, 0.79, 0.77]) is not None  # flat over a 4× grid
    assert curve_flag([0.05, 0.1], [0.8, 0.8]) is None  # too narrow a grid to judge


def test_black_box_flag_compares_like_with_like():
    def entry(attack, white, robust, norm="inf", bounded=True):
        return {"attack": attack, "white_box": white, "robust_accuracy": robust, "norm": norm, "eps_bounded": bounded}

    assert black_box_flag([entry("pgd_linf", True, 0.5), entry("square", False, 0.3)]) is not None
    assert black_box_flag([entry("pgd_linf", True, 0.5), entry("square", False, 0.495)]) is None
    assert black_box_flag([entry("pgd_l2", True, 0.5, "2"), entry("square", False, 0.3)]) is None  # other norm
    assert black_box_flag([entry("pgd_linf", True, 0.5), entry("hopskipjump", False, 0.0, bounded=False)]) is None
