"""Batches that fit the worker's memory: counted per sample, lowered only when memory is short, always reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from attacks import memory
from attacks.architectures import build
from attacks.backdoor.strip import strip_entropies
from attacks.context import RunContext
from attacks.memory import activation_bytes, fit_batch
from attacks.tasks import TASKS

ROOT = Path(__file__).resolve().parents[2]


def test_activation_bytes_counts_the_input_and_every_leaf_modules_output():
    network = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10))
    # input 64 floats, conv 256, relu 256, flatten 256, linear 10; 4 bytes each
    assert activation_bytes(network, (1, 8, 8)) == (64 + 256 + 256 + 256 + 10) * 4


def test_a_224_pixel_resnet50_costs_about_a_hundred_megabytes_a_sample():
    per_sample = activation_bytes(build("timm/resnet50", 10).eval(), (3, 224, 224))
    assert 80 * 2**20 < per_sample < 200 * 2**20


def test_the_batch_is_lowered_to_what_half_the_free_memory_holds_and_never_below_one():
    network = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    per_sample = activation_bytes(network, (1, 8, 8))
    assert fit_batch(128, network, (1, 8, 8), free=per_sample * 20).batch_size == 10
    assert fit_batch(8, network, (1, 8, 8), free=per_sample * 20).batch_size == 8  # fits: unchanged
    short = fit_batch(128, network, (1, 8, 8), free=0)
    assert short.batch_size == 1 and short.reduced
    assert "instead of 128" in short.note()


def test_free_memory_on_a_cpu_respects_the_sandboxs_address_space_limit():
    code = (
        f"import resource, sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from attacks.memory import _virtual_size, free_bytes\n"
        "unlimited = free_bytes('cpu')\n"
        "cap = _virtual_size() + 64 * 2**20\n"
        "resource.setrlimit(resource.RLIMIT_AS, (cap, resource.RLIM_INFINITY))\n"
        "print(unlimited, free_bytes('cpu'))\n"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True).stdout
    unlimited, capped = map(int, out.split())
    assert capped <= 64 * 2**20 < unlimited


def test_an_evasion_run_short_of_memory_uses_smaller_batches_and_says_so(trained_cnn, tmp_path, monkeypatch):
    ctx = RunContext(output_dir=tmp_path)
    params = {
        "model_path": str(trained_cnn["safetensors"]),
        "arch": "cnn-digits",
        "data_path": str(trained_cnn["test"]),
        "attacks": ["pgd_linf"],
        "eps": 0.1,
        "steps": 5,
        "sample_limit": 40,
        "batch_size": 40,
    }
    roomy = TASKS["evasion"](ctx, params)
    per_sample = activation_bytes(build("cnn-digits", 10), (1, 8, 8))
    monkeypatch.setattr(memory, "free_bytes", lambda device="cpu": per_sample * 16)
    short = TASKS["evasion"](ctx, params)
    assert roomy["settings"]["batch_size"] == 40 and roomy["memory"]["requested_batch_size"] == 40
    assert short["settings"]["batch_size"] == 8
    assert short["memory"] == {**short["memory"], "batch_size": 8, "requested_batch_size": 40}
    # PGD's start is drawn per sample, so the batches change the time, not the answer.
    assert short["attacks"][0]["robust_accuracy"] == roomy["attacks"][0]["robust_accuracy"]


def test_strip_blends_fewer_inputs_per_forward_when_memory_is_short_with_the_same_entropies(monkeypatch):
    torch.manual_seed(0)
    network = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    rng = np.random.default_rng(0)
    x, overlays = rng.random((30, 1, 8, 8), dtype=np.float32), rng.random((50, 1, 8, 8), dtype=np.float32)
    roomy = strip_entropies(network, x, overlays, n=10, seed=3)
    seen = []
    forward = network.forward
    monkeypatch.setattr(network, "forward", lambda batch: seen.append(len(batch)) or forward(batch))
    monkeypatch.setattr(memory, "free_bytes", lambda device="cpu": activation_bytes(network, (1, 8, 8)) * 0.5 * 2 * 45)
    short = strip_entropies(network, x, overlays, n=10, seed=3)
    assert max(seen) == 40  # 45 blended images fit: four inputs of ten blends each
    np.testing.assert_allclose(short, roomy, rtol=1e-6)


def test_backdoor_predictions_and_features_come_in_batches_that_fit(monkeypatch):
    from attacks.backdoor.common import features, predict_logits

    network = build("cnn-digits", 10).eval()
    x = np.random.default_rng(0).random((50, 1, 8, 8), dtype=np.float32)
    roomy_logits, roomy_features = predict_logits(network, x), features(network, x)
    seen = []
    forward = network.forward
    monkeypatch.setattr(network, "forward", lambda batch: seen.append(len(batch)) or forward(batch))
    # Room for 12 samples' forward activations in half the free memory.
    per_sample = activation_bytes(network, (1, 8, 8)) * memory.FORWARD_FACTOR
    monkeypatch.setattr(memory, "free_bytes", lambda device="cpu": int(per_sample * 2 * 12))
    torch.testing.assert_close(predict_logits(network, x), roomy_logits)
    assert seen and max(seen) == 12
    np.testing.assert_allclose(features(network, x), roomy_features, rtol=1e-4, atol=1e-6)
