"""The project's own small classifiers, built from the architecture catalogue.

Every network here exposes its penultimate features, which backdoor detectors (activation
clustering, spectral signatures) read:

    features = model.forward_features(x)   # N × model.feature_dim
    logits = model.classifier(features)     # the same as model(x)

`classifier` is the last module registered, so tools that read "the last layer" see the logits.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


class CatalogueNet(nn.Module):
    """Base: forward(x) = classifier(forward_features(x))."""

    feature_dim: int
    classifier: nn.Linear

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


class MLP(CatalogueNet):
    """Fully connected layers over the flattened input (so N×C×H×W and N×D inputs both work)."""

    def __init__(self, input_shape: Sequence[int], num_classes: int, hidden: Sequence[int] = (256, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.body = nn.Sequential(*layers)
        self.feature_dim = width
        self.classifier = nn.Linear(width, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class SmallCNN(CatalogueNet):
    """3×3 convolutions (each optionally followed by 2×2 max-pooling), one dense layer, the classifier."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        channels: Sequence[int] = (32, 64),
        pool_after: Sequence[bool] = (False, True),
        hidden: int = 128,
    ) -> None:
        super().__init__()
        in_channels, height, width = input_shape
        layers: list[nn.Module] = []
        for out_channels, pool in zip(channels, pool_after, strict=True):
            layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU()]
            if pool:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            in_channels = out_channels
        self.conv = nn.Sequential(*layers)
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(in_channels * height * width, hidden), nn.ReLU())
        self.feature_dim = hidden
        self.classifier = nn.Linear(hidden, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.conv(x))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetCifar(CatalogueNet):
    """ResNet-18 for 32×32 images (He et al.; 3×3 stem, no max-pool, as in the usual CIFAR recipes)."""

    def __init__(
        self, input_shape: Sequence[int], num_classes: int, blocks: Sequence[int] = (2, 2, 2, 2), width: int = 64
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        stages: list[nn.Module] = []
        in_planes = width
        for index, count in enumerate(blocks):
            planes = width * 2**index
            for block in range(count):
                stages.append(BasicBlock(in_planes, planes, stride=2 if index > 0 and block == 0 else 1))
                in_planes = planes
        self.layers = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = in_planes
        self.classifier = nn.Linear(in_planes, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.layers(self.stem(x)))


class LogitsOf(nn.Module):
    """A model whose output carries `.logits` (transformers' classifiers) as a plain tensor function of images."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(pixel_values=x).logits


# The catalogue's `builder` field names one of these.
BUILDERS: dict[str, type[CatalogueNet]] = {"mlp": MLP, "small_cnn": SmallCNN, "resnet_cifar": ResNetCifar}


def _resize_and_crop(x: torch.Tensor, size: tuple[int, int], crop_pct: float, interpolation: str) -> torch.Tensor:
    """timm's and torchvision's evaluation transform, differentiable: resize (the shorter side, for a square
    target) to size / crop_pct, then centre-crop to `size`."""
    height, width = x.shape[-2:]
    if size[0] == size[1]:
        side = math.floor(size[0] / crop_pct)
        scaled = (
            (side, max(side, round(width * side / height)))
            if height <= width
            else (
                max(side, round(height * side / width)),
                side,
            )
        )
    else:
        scaled = (math.floor(size[0] / crop_pct), math.floor(size[1] / crop_pct))
    if scaled != (height, width):
        smooth = interpolation in ("bilinear", "bicubic")
        x = nn.functional.interpolate(
            x,
            size=scaled,
            mode=interpolation,
            align_corners=False if smooth else None,
            antialias=smooth and scaled[0] < height,
        )
    top, left = (scaled[0] - size[0]) // 2, (scaled[1] - size[1]) // 2
    return x[..., top : top + size[0], left : left + size[1]]


class Preprocessed(nn.Module):
    """`normalise ∘ network`: takes images in [0, 1] and returns the network's logits.

    An image of another size than the network's is resized and centre-cropped first (inside the
    model, so gradients and ε stay in the input image's pixels); then scaled and normalised.
    `penultimate_features` reads the network's features through the same steps."""

    def __init__(
        self,
        network: nn.Module,
        *,
        input_shape: Sequence[int],
        mean: Sequence[float] = (),
        std: Sequence[float] = (),
        scale: float = 1.0,
        interpolation: str = "bilinear",
        crop_pct: float = 1.0,
    ) -> None:
        super().__init__()
        self.network = network
        self.size = (int(input_shape[1]), int(input_shape[2]))
        self.interpolation, self.crop_pct, self.scale = interpolation, float(crop_pct), float(scale)
        self.normalises = bool(mean)
        self.register_buffer("mean", torch.tensor(list(mean) or [0.0]).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(std) or [1.0]).view(1, -1, 1, 1), persistent=False)

    @classmethod
    def of(cls, network: nn.Module, processing: Any) -> Preprocessed:
        """`network` wrapped in an attacks.preprocess.Preprocessing."""
        return cls(
            network,
            input_shape=processing.input_shape,
            mean=processing.mean,
            std=processing.std,
            scale=processing.scale,
            interpolation=processing.interpolation,
            crop_pct=processing.crop_pct,
        )

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and tuple(x.shape[-2:]) != self.size:
            x = _resize_and_crop(x, self.size, self.crop_pct, self.interpolation)
        if self.scale != 1.0:
            x = x * self.scale
        if self.normalises:
            x = (x - self.mean) / self.std
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(self.normalise(x))

    def penultimate_features(self, x: torch.Tensor) -> torch.Tensor:
        from attacks.architectures import penultimate_features

        return penultimate_features(self.network, self.normalise(x))


def _conv_batchnorm_pairs(model: nn.Module, probe: torch.Tensor) -> list[tuple[str, str]]:
    """(convolution, batch norm) module names where, on `probe`, the batch norm runs right after the convolution on
    its output, each module runs once, and the batch norm is a plain eval-mode BatchNorm2d with running statistics."""
    last: list[Any] = [None, None]  # the latest convolution's name and output
    calls: dict[str, int] = {}
    pairs: list[tuple[str, str]] = []

    def conv_hook(name: str) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            calls[name] = calls.get(name, 0) + 1
            last[:] = [name, output]

        return hook

    def norm_hook(name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, _output: torch.Tensor) -> None:
            calls[name] = calls.get(name, 0) + 1
            plain = type(module) is nn.BatchNorm2d and not module.training and module.running_var is not None
            if plain and inputs[0] is last[1]:
                pairs.append((last[0], name))

        return hook

    handles = []
    for name, module in model.named_modules():
        if type(module) is nn.Conv2d:
            handles.append(module.register_forward_hook(conv_hook(name)))
        elif isinstance(module, nn.BatchNorm2d):
            handles.append(module.register_forward_hook(norm_hook(name)))
    try:
        with torch.no_grad():
            model(probe)
    finally:
        for handle in handles:
            handle.remove()
    return [(conv, norm) for conv, norm in pairs if calls[conv] == 1 and calls[norm] == 1]


def _fold_into(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> None:
    """conv ← norm ∘ conv: W·s per output channel, (b − μ)·s + β with s = γ / √(σ² + ε), computed in float64."""
    scale = norm.running_var.double().add(norm.eps).rsqrt()  # type: ignore[union-attr]
    if norm.weight is not None:
        scale = scale * norm.weight.double()
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    shift = (bias - norm.running_mean.double()) * scale  # type: ignore[union-attr]
    if norm.bias is not None:
        shift = shift + norm.bias.double()
    weight = conv.weight.double() * scale.view(-1, *([1] * (conv.weight.dim() - 1)))
    conv.weight = nn.Parameter(weight.to(conv.weight.dtype), requires_grad=conv.weight.requires_grad)
    conv.bias = nn.Parameter(shift.to(conv.weight.dtype), requires_grad=conv.weight.requires_grad)


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def fold_batchnorm(model: nn.Module, probe: torch.Tensor, tolerance: float = 1e-4) -> nn.Module | None:
    """A copy of the eval-mode `model` with each BatchNorm2d that directly follows a convolution folded into its
    weights, or None when there is nothing to fold or the copy's logits on `probe` are not those of the model.

    Folding is exact up to float rounding and saves a full read and write of every such activation in each
    forward and backward pass. "The same logits" means no logit differs by more than `tolerance` × the largest
    logit magnitude (at least 1): a network whose structure the folding misread (a convolution's output also used
    before its batch norm, a module run twice) fails that check and is attacked unfolded. The model is not modified.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or any(m.training for m in norms):  # a training-mode batch norm has no fixed affine map
        return None
    pairs = _conv_batchnorm_pairs(model, probe)
    if not pairs:
        return None
    folded = copy.deepcopy(model)
    modules = dict(folded.named_modules())
    for conv, norm in pairs:
        _fold_into(modules[conv], modules[norm])  # type: ignore[arg-type]
        _replace(folded, norm, nn.Identity())
    with torch.no_grad():
        expected, got = model(probe).float(), folded(probe).float()
    if not torch.isfinite(got).all() or got.shape != expected.shape:
        return None
    if (got - expected).abs().max() > tolerance * max(1.0, float(expected.abs().max())):
        return None
    return folded


def working_copy(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A frozen channels-last copy of `model` in `dtype` to take input gradients through; `model` is untouched.

    Only inputs are optimised (triggers, adversarial perturbations), so parameter gradients (a third of a step's
    convolution work) are skipped whatever the caller set. Channels-last lets oneDNN run convolutions and
    max-pooling in its native layout: NCHW max-pooling on CPU alone costs about as much as the 3×3 convolution
    before it.
    """
    working = copy.deepcopy(model)
    working.requires_grad_(False)
    for module in working.modules():
        if isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            module.register_forward_hook(_channels_last_gradient)
    return working.to(dtype=dtype, memory_format=torch.channels_last)


def _channels_last_gradient(_module: Any, _inputs: Any, output: Any) -> None:
    """Hand a pooling layer's backward its gradient in channels-last, the layout of its input.

    The gradient arrives from a flatten in NCHW order, and a pooling backward with mixed layouts is slow:
    for 160 digits' 64×8×8 activations 1.3–3.1 ms against 0.4–0.7 ms, plus 0.1 ms for this conversion."""
    if isinstance(output, torch.Tensor) and output.requires_grad and output.dim() == 4:
        output.register_hook(lambda grad: grad.contiguous(memory_format=torch.channels_last))


class LowPrecision(nn.Module):
    """`model` computed in `dtype` (a `working_copy`), taking and returning float32: inputs are cast on the way in
    (channels-last for images), logits back to float32, and input gradients arrive in float32.

    For the gradients of an attack only: what the attack found is judged by the float32 network
    (attacks.evasion.pgd's `judge`, and every result's final predictions)."""

    def __init__(self, model: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype
        self.net = working_copy(model, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layout = torch.channels_last if x.dim() == 4 else torch.preserve_format
        return self.net(x.to(dtype=self.dtype, memory_format=layout)).float()
