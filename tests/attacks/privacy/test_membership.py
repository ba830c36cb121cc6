import json
import math
from pathlib import Path

import numpy as np
import pytest

from attacks.context import RunContext, UserError
from attacks.privacy import membership
from attacks.privacy.roc import auc, membership_metrics, tpr_at_fpr
from attacks.tasks import TASKS

RESAMPLES = 500


def _run(tmp_path: Path, params: dict, **extra) -> dict:
    return TASKS["membership_inference"](RunContext(output_dir=tmp_path), {"bootstrap": RESAMPLES, **params, **extra})


def _at(document: dict, fpr: float) -> dict:
    return next(entry for entry in document["tpr_at_fpr"] if entry["fpr"] == fpr)


@pytest.fixture(scope="module")
def overfit_result(tmp_path_factory, overfit_target) -> dict:
    return _run(tmp_path_factory.mktemp("mi"), overfit_target)


@pytest.fixture(scope="module")
def regularised_result(tmp_path_factory, regularised_target) -> dict:
    return _run(tmp_path_factory.mktemp("mi"), regularised_target)


def test_membership_inference_beats_chance_on_an_overfit_model(overfit_result):
    assert overfit_result["schema"] == "riskapp.membership-inference/1"
    assert overfit_result["target_accuracy"]["members"] == 1.0
    assert (overfit_result["members"], overfit_result["non_members"]) == (200, 1597)
    auc_ = overfit_result["auc"]
    assert auc_["ci"][0] > 0.58 and auc_["ci"][0] <= auc_["value"] <= auc_["ci"][1]  # measured 0.659 [0.621, 0.698]
    at_1 = _at(overfit_result, 0.01)
    assert at_1["reportable"] and at_1["ci"][0] > 0.02  # chance is 0.01; measured 0.080 [0.040, 0.115]


def test_calibration_beats_the_uncalibrated_confidence_threshold(overfit_result):
    assert overfit_result["auc"]["value"] > overfit_result["baseline"]["auc"] + 0.03


def test_membership_inference_does_not_beat_chance_on_a_regularised_model(overfit_result, regularised_result):
    auc_ = regularised_result["auc"]
    assert auc_["value"] < 0.56 and auc_["ci"][0] < 0.52  # measured 0.519 [0.491, 0.546]
    at_1 = _at(regularised_result, 0.01)
    assert at_1["tpr"] < 0.03 and at_1["ci"][0] < 0.015  # chance is 0.01; measured 0.017 [0.009, 0.029]
    assert at_1["tpr"] < _at(overfit_result, 0.01)["ci"][0]
    assert overfit_result["auc"]["value"] - auc_["value"] > 0.1


def test_too_few_non_members_for_a_low_fpr_are_reported_as_such(overfit_result):
    low = _at(overfit_result, 0.001)
    assert not low["reportable"] and low["tpr"] is None and low["ci"] is None
    assert "1597 non-members" in low["reason"] and "5000" in low["reason"]


def test_roc_points_are_for_a_log_log_chart(overfit_result):
    roc = overfit_result["roc"]
    assert len(roc["fpr"]) == len(roc["tpr"]) > 50
    assert roc["fpr"][0] == pytest.approx(1 / 1597) and roc["fpr"][-1] == 1.0
    assert all(a < b for a, b in zip(roc["fpr"], roc["fpr"][1:], strict=False))
    assert all(a <= b for a, b in zip(roc["tpr"], roc["tpr"][1:], strict=False)) and roc["tpr"][-1] == 1.0
    assert "bootstrap" in overfit_result["ci_method"]
    json.dumps(overfit_result, allow_nan=False)  # what the sandbox runner sends back
    assert overfit_result["model_inversion"]["tested"] is False


def test_tpr_at_fpr_counts_strictly_higher_scores():
    non_members = np.arange(100, dtype=float)  # 1 % FPR allows one false positive: the threshold is 98
    members = np.array([98.0, 98.5, 99.5, 200.0])
    assert tpr_at_fpr(members, non_members, 0.01) == (0.75, 98.0)
    assert auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert auc(np.array([1.0]), np.array([1.0])) == 0.5


def test_metrics_need_five_false_positives_to_report_a_rate():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=1000)
    few = membership_metrics(scores[:100], scores[100:400], (0.01,), resamples=100, seed=0)["tpr_at_fpr"][0]
    enough = membership_metrics(scores[:100], scores[100:], (0.01,), resamples=100, seed=0)["tpr_at_fpr"][0]
    assert (few["reportable"], few["allowed_false_positives"]) == (False, 3)
    assert (enough["reportable"], enough["allowed_false_positives"]) == (True, 9)


def test_logit_confidence_is_the_log_odds_of_the_true_class():
    logits = np.array([[2.0, 0.5, -1.0], [800.0, 0.0, 1.0]])
    p = np.exp(logits[0]) / np.exp(logits[0]).sum()
    phi = membership.logit_confidence(logits, np.array([1, 0]))
    assert phi[0] == pytest.approx(math.log(p[1] / (1 - p[1])))
    assert phi[1] == pytest.approx(800.0 - math.log(1 + math.e))  # no overflow on large logits


def test_every_sample_is_inside_the_same_number_of_shadows():
    keep = membership.shadow_assignment(samples=1000, shadows=16, members=250, seed=3)
    assert set(keep.sum(axis=0)) == {4}
    assert keep.sum(axis=1).mean() == pytest.approx(250)


def test_bad_inputs_get_clear_errors(tmp_path, overfit_target, trained_cnn):
    with pytest.raises(UserError, match="non_members_path is required"):
        _run(tmp_path, {**overfit_target, "non_members_path": None})
    with pytest.raises(UserError, match="shadow_models must be between 2 and 256"):
        _run(tmp_path, overfit_target, shadow_models=1)
    with pytest.raises(UserError, match="at least 20 members"):
        _run(tmp_path, overfit_target, sample_limit=10)
    with pytest.raises(UserError, match="give shadow_arch"):
        _run(tmp_path, overfit_target, model_path=str(trained_cnn["onnx"]), arch=None)


def test_an_onnx_model_is_attacked_through_its_outputs(tmp_path, trained_cnn, overfit_target):
    document = _run(
        tmp_path,
        overfit_target,
        model_path=str(trained_cnn["onnx"]),
        arch=None,
        shadow_arch="mlp-digits",
        shadow_models=2,
        epochs=2,
        bootstrap=100,
        sample_limit=100,
    )
    assert document["model"]["format"] == "onnx" and document["shadow_models"]["arch"] == "mlp-digits"
    assert document["queries"] == 200


def test_an_onnx_model_that_outputs_probabilities_is_read_as_log_probabilities(tmp_path, digits):
    import torch

    from attacks.architectures import build
    from attacks.privacy.models import load_black_box
    from tests.attacks.conftest import export_onnx

    torch.manual_seed(0)
    network = build("mlp-digits", 10).eval()
    path = export_onnx(
        torch.nn.Sequential(network, torch.nn.Softmax(dim=1)), torch.zeros(1, 1, 8, 8), tmp_path / "p.onnx"
    )
    x = digits.x_test[:16]
    expected = torch.log_softmax(network(torch.from_numpy(x)), dim=1).detach().numpy()
    assert np.allclose(load_black_box({"model_path": str(path)}).query(x), expected, atol=1e-4)
