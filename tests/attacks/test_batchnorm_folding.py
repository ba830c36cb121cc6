"""Folding eval-mode batch norms into the convolutions before them: same logits and input gradients, or no fold."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from torch import nn

from attacks.architectures import build
from attacks.evasion import Target
from attacks.networks import fold_batchnorm


def _with_running_statistics(model: nn.Module) -> nn.Module:
    """Random init leaves mean 0, variance 1, γ 1 (or 0), β 0: draw values a trained network would have."""
    gen = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=gen) * 0.4 - 0.2)
    return model.eval().requires_grad_(False)


def _logits_and_input_gradient(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    logits = model(x)
    (grad,) = torch.autograd.grad(nn.functional.cross_entropy(logits, logits.argmax(1), reduction="sum"), x)
    return logits.detach(), grad


class ConvOutputUsedTwice(nn.Module):
    """The convolution's output feeds its batch norm and, unnormalised, the sum: folding would change the sum."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return self.head(self.bn(out) + out)


@pytest.fixture
def resnet() -> nn.Module:
    torch.manual_seed(0)
    return _with_running_statistics(timm.create_model("resnet10t", pretrained=False, num_classes=5))


def test_a_folded_resnet_gives_the_same_logits_and_input_gradients(resnet):
    x = torch.rand(4, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    before = {name: t.clone() for name, t in resnet.state_dict().items()}
    folded = fold_batchnorm(resnet, x[:2])
    assert folded is not None
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert not any(p.requires_grad for p in folded.parameters())
    logits, grad = _logits_and_input_gradient(resnet, x)
    folded_logits, folded_grad = _logits_and_input_gradient(folded, x)
    assert torch.allclose(folded_logits, logits, rtol=1e-5, atol=1e-5 * float(logits.abs().max()))
    assert torch.allclose(folded_grad, grad, rtol=1e-4, atol=1e-5 * float(grad.abs().max()))
    # The caller's network is untouched.
    assert any(isinstance(m, nn.BatchNorm2d) for m in resnet.modules())
    assert all(torch.equal(t, before[name]) for name, t in resnet.state_dict().items())


def test_a_network_without_batch_norm_is_attacked_as_it_is():
    model = build("cnn-digits", 10).eval()
    x = torch.rand(2, 1, 8, 8)
    assert fold_batchnorm(model, x) is None
    target = Target(input_shape=(1, 8, 8), num_classes=10, model=model, device="cpu")
    assert target.fold_batchnorm(x.numpy()) is False
    assert target.model is model and not target.bn_folded


def test_a_misread_structure_fails_the_logit_check_and_is_not_folded():
    model = _with_running_statistics(ConvOutputUsedTwice())
    assert fold_batchnorm(model, torch.rand(2, 3, 8, 8)) is None


def test_a_training_mode_batch_norm_is_not_folded(resnet):
    before = resnet.bn1.running_mean.clone()
    assert fold_batchnorm(resnet.train(), torch.rand(2, 3, 32, 32)) is None
    assert torch.equal(resnet.bn1.running_mean, before)  # no probe pass updated its statistics


def test_the_target_attacks_the_folded_copy(resnet):
    target = Target(input_shape=(3, 48, 48), num_classes=5, model=resnet, device="cpu")
    probe = np.random.default_rng(0).random((2, 3, 48, 48), dtype=np.float32)
    expected = target.predict(probe)
    assert target.fold_batchnorm(probe) is True
    assert target.bn_folded and target.model is not resnet
    assert np.allclose(target.predict(probe), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_an_evasion_run_on_a_network_with_batch_norms_attacks_the_folded_copy(tmp_path):
    from attacks.datasets import save_npz
    from attacks.evasion.params import load_target
    from attacks.loading import save_safetensors

    torch.manual_seed(0)
    weights = tmp_path / "resnet.safetensors"
    save_safetensors(_with_running_statistics(build("resnet18-cifar", 10)).state_dict(), weights)
    x = np.random.default_rng(0).random((6, 3, 32, 32), dtype=np.float32)
    data = save_npz(tmp_path / "data.npz", x, np.arange(6) % 10)
    target, _, _, described = load_target(
        model_path=weights, arch="resnet18-cifar", num_classes=10, data_path=data, limit=6, seed=0, device="cpu"
    )
    assert described["model"]["bn_folded"] is True and target.bn_folded
    assert not any(isinstance(m, nn.BatchNorm2d) for m in target.model.modules())
