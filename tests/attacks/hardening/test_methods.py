"""Each hardening method on the demo's digits models: the measured effect, and weights that load as a new version."""

from __future__ import annotations

import pytest

from attacks.loading import load_network, load_state_dict
from tests.attacks.hardening.support import hardening_params, rate, run_hardening

# Backdoor removal may cost at most this much clean accuracy (the demo's models are at about 0.99).
CLEAN_MARGIN = 0.03


def test_all_layer_finetuning_weakens_the_head_only_students_trigger(demo, tmp_path):
    result = run_hardening(tmp_path, hardening_params(demo, "student_head", "finetune", epochs=3))

    assert rate(result, "before", "trigger_success") > 0.9
    assert rate(result, "after", "trigger_success") < 0.3
    assert rate(result, "after", "clean_accuracy") >= rate(result, "before", "clean_accuracy") - CLEAN_MARGIN
    assert [row["epoch"] for row in result["history"]] == [1, 2, 3]
    assert result["after"]["trigger_success"]["samples"] == 450  # the test set's non-target images


def test_hardened_weights_load_as_the_same_architecture_with_the_same_keys(demo, tmp_path):
    result = run_hardening(tmp_path, hardening_params(demo, "student_head", "finetune", epochs=1))

    weights = tmp_path / result["weights"]["file"]
    assert set(load_state_dict(weights)) == set(load_state_dict(demo["student_head"]))
    loaded = load_network(weights, demo["arch"], 10)
    assert loaded.arch == demo["arch"]
    card = result["card"]
    assert card["hardening"] == "finetune" and card["epochs"] == 1
    assert card["source_model_sha256"] != card["weights_sha256"]
    assert card["data_sha256"] == result["data"]["training"]["sha256"]
    assert not (tmp_path / "checkpoint").exists()  # a finished run leaves only its outputs


def test_each_rate_carries_its_sample_count_and_wilson_interval(demo, tmp_path):
    result = run_hardening(tmp_path, hardening_params(demo, "student_head", "finetune", epochs=1))

    clean = result["after"]["clean_accuracy"]
    assert clean["samples"] == 500 and clean["count"] == round(clean["value"] * 500)
    low, high = clean["ci95"]
    assert low < clean["value"] < high


@pytest.mark.parametrize("method", ["adversarial", "trades"])
def test_adversarial_finetuning_raises_robust_accuracy_at_the_given_eps(demo, tmp_path, method):
    params = hardening_params(demo, "teacher", method, eps=0.1, epochs=2, attack_steps=5)
    params.update(eval_steps=10, robust_limit=150, triggered_path=None, target_class=None)
    result = run_hardening(tmp_path, params)

    before, after = result["before"]["robust_accuracy"], result["after"]["robust_accuracy"]
    assert after["value"] > before["value"] + 0.1
    assert after["ci95"][0] > before["value"]
    assert result["robust_evaluation"]["attacks"] == "APGD-CE + APGD-T"
    assert [stage["name"] for stage in after["stages"]] == ["apgd-ce", "apgd-t"]
    assert result["card"]["eps"] == 0.1 and result["card"]["norm"] == "inf"


def test_fine_pruning_lowers_trigger_success_and_keeps_clean_accuracy(demo, tmp_path):
    result = run_hardening(tmp_path, hardening_params(demo, "teacher", "fine-pruning", epochs=3))

    assert rate(result, "after", "trigger_success") < rate(result, "before", "trigger_success") - 0.2
    assert rate(result, "after", "clean_accuracy") >= rate(result, "before", "clean_accuracy") - CLEAN_MARGIN
    pruning = result["pruning"]
    assert pruning["layer"] == "conv.2" and pruning["pruned_units"] > 0
    assert pruning["validation_accuracy_pruned"] >= pruning["validation_accuracy_before"] - pruning["max_accuracy_drop"]
    # The pruned units stay off through the fine-tuning: their filters are zero in the saved weights.
    weights = load_state_dict(tmp_path / "hardened.safetensors")["conv.2.weight"]
    assert int((weights.flatten(1).abs().sum(1) == 0).sum()) == pruning["pruned_units"]


def test_neural_cleanse_unlearning_lowers_trigger_success_and_keeps_clean_accuracy(demo, tmp_path):
    result = run_hardening(tmp_path, hardening_params(demo, "teacher", "unlearn", epochs=2, cleanse_steps=300))

    assert rate(result, "before", "trigger_success") > 0.9
    assert rate(result, "after", "trigger_success") < 0.2
    assert rate(result, "after", "reversed_trigger_success") < rate(result, "before", "reversed_trigger_success")
    assert rate(result, "after", "clean_accuracy") >= rate(result, "before", "clean_accuracy") - CLEAN_MARGIN
    assert result["unlearning"]["stamped_samples"] > 0


def test_bfloat16_training_attacks_harden_the_model_as_float32_ones_do(demo, tmp_path):
    """The training attack's passes in bfloat16 (precision "auto" where native) still raise robust accuracy; every
    number is measured in float32."""
    results = {}
    for precision in ("float32", "bfloat16"):
        params = hardening_params(demo, "teacher", "adversarial", eps=0.1, epochs=2, attack_steps=5)
        params.update(eval_steps=10, robust_limit=150, triggered_path=None, target_class=None, precision=precision)
        results[precision] = run_hardening(tmp_path / precision, params)
    single, half = results["float32"], results["bfloat16"]
    assert single["training_attack"] == {"steps": 5, "precision": "float32"}
    assert half["training_attack"] == {"steps": 5, "precision": "bfloat16"}
    before = single["before"]["robust_accuracy"]["value"]
    gained = {name: r["after"]["robust_accuracy"]["value"] - before for name, r in results.items()}
    assert gained["float32"] > 0.1 and gained["bfloat16"] > 0.1, gained
    # The same recipe: a gain within 0.1 of float32's (150 samples: a 95% interval is about ±0.08 wide).
    assert abs(gained["bfloat16"] - gained["float32"]) < 0.1, gained
    assert abs(half["after"]["clean_accuracy"]["value"] - single["after"]["clean_accuracy"]["value"]) < 0.05
