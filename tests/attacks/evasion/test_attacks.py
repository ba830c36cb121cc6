"""Every attack runs on the trained digits CNN and lowers its accuracy; black-box ones also on ONNX."""

from __future__ import annotations

import numpy as np
import pytest

from attacks.context import UserError
from attacks.evasion import ATTACKS, Target, evaluate_suite
from attacks.evasion.attacks import Settings
from attacks.evasion.core import generate
from attacks.loading import load_onnx

# (attack, samples, settings): sample counts kept small, the slow ART attacks get a handful.
CASES = [
    ("fgsm", 64, Settings(eps=0.2)),
    ("pgd_linf", 64, Settings(eps=0.15, steps=10)),
    ("pgd_l2", 64, Settings(eps=1.0, norm="2", steps=10)),
    ("cw_l2", 4, Settings(eps=1.0, steps=4, batch_size=4)),
    ("deepfool", 8, Settings(eps=1.0, steps=5, batch_size=8)),
    ("autoattack", 16, Settings(eps=0.2, steps=5, max_queries=20, batch_size=16)),
    ("square", 16, Settings(eps=0.25, max_queries=100, batch_size=16)),
    ("hopskipjump", 8, Settings(eps=1.0, norm="2", max_queries=100, batch_size=8)),
]


def test_catalogue_is_covered():
    assert {name for name, _, _ in CASES} == set(ATTACKS)


@pytest.mark.parametrize(("name", "samples", "config"), CASES, ids=[c[0] for c in CASES])
def test_attack_lowers_accuracy(cnn, digits, ctx, name, samples, config):
    x, y = digits.x_test[:samples], digits.y_test[:samples]
    result = evaluate_suite(cnn, [name], x, y, config, ctx)
    attack = result["attacks"][0]
    assert attack["attack"] == name
    assert attack["robust_accuracy"] < attack["clean_accuracy"]
    assert attack["fooled"] > 0 and attack["perturbation"]["l2_median"] > 0
    if attack["eps_bounded"]:
        size = attack["perturbation"]["linf_max" if attack["norm"] == "inf" else "l2_max"]
        assert size <= config.eps * 1.001
    if not ATTACKS[name].white_box:
        assert attack["queries"] > 0
    assert attack["examples"] and all(
        (ctx.output_dir / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in attack["examples"]
    )


@pytest.mark.parametrize("name", ["square", "hopskipjump"])
def test_black_box_attacks_onnx(trained_cnn, digits, ctx, name):
    onnx = load_onnx(trained_cnn["onnx"])
    target = Target(input_shape=(1, 8, 8), num_classes=10, onnx=onnx)
    settings = Settings(eps=0.25 if name == "square" else 1.0, max_queries=100, batch_size=8)
    result = evaluate_suite(target, [name], digits.x_test[:8], digits.y_test[:8], settings, ctx)
    attack = result["attacks"][0]
    assert attack["robust_accuracy"] < attack["clean_accuracy"] and attack["queries"] > 0


def test_white_box_attack_on_onnx_is_refused(trained_cnn, digits, ctx):
    target = Target(input_shape=(1, 8, 8), num_classes=10, onnx=load_onnx(trained_cnn["onnx"]))
    with pytest.raises(UserError, match="white-box"):
        evaluate_suite(target, ["pgd_linf"], digits.x_test[:4], digits.y_test[:4], Settings(eps=0.1), ctx)


def test_hopskipjump_gets_float32(cnn, digits, ctx):
    """ART issue #2475: under NumPy 2 HopSkipJump hands float64 to the model; our estimator casts it."""
    estimator = cnn.art_estimator()
    logits = estimator.predict(digits.x_test[:4].astype(np.float64))
    assert logits.shape == (4, 10)
    x, y = digits.x_test[:4].astype(np.float64), digits.y_test[:4]
    adv = generate(
        cnn, "hopskipjump", x, y, Settings(eps=1.0, norm="2", max_queries=100, batch_size=4), ctx, lambda f, m: None
    )
    assert adv.dtype == np.float32 and np.isfinite(adv).all()
    assert (cnn.predict(adv).argmax(1) != y).any()


def test_hopskipjump_float64_fails_without_the_cast(cnn, digits):
    """The bug the cast works around, so a later ART fixing it shows up here."""
    import torch
    from art.attacks.evasion import HopSkipJump
    from art.estimators.classification import PyTorchClassifier

    raw = PyTorchClassifier(cnn.model, torch.nn.CrossEntropyLoss(), (1, 8, 8), 10, clip_values=(0.0, 1.0))
    attack = HopSkipJump(raw, max_iter=1, max_eval=10, init_eval=5, verbose=False)
    with pytest.raises(RuntimeError):
        attack.generate(x=digits.x_test[:2].astype(np.float32))
