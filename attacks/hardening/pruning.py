"""Fine-pruning's pruning step (Liu et al., RAID 2018): switch off the units of the last convolution (or, in a
network without one, the last hidden linear layer) that stay dormant on clean data, where a backdoor can hide.

A pruned unit's weights and bias are set to zero, and so are those of a batch norm right after the layer, so its
output is exactly zero; `apply` repeats this after every optimiser step of the fine-tuning that follows. The pruned
network keeps its architecture and key names: it loads like the original.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from attacks.context import RunContext, UserError

if TYPE_CHECKING:
    import torch
    from torch import nn

# Pruned shares tried (the largest one whose clean accuracy stays within the allowed drop is kept).
FRACTIONS = tuple(round(0.05 * step, 2) for step in range(1, 20))


def prunable_layer(network: nn.Module) -> tuple[str, nn.Module, nn.Module | None]:
    """(name, layer, batch norm right after it or None): the last Conv2d, else the last hidden Linear."""
    from torch import nn

    modules = list(network.named_modules())
    convolutions = [i for i, (_, module) in enumerate(modules) if isinstance(module, nn.Conv2d)]
    linears = [i for i, (_, module) in enumerate(modules) if isinstance(module, nn.Linear)]
    if convolutions:
        index = convolutions[-1]
    elif len(linears) >= 2:
        index = linears[-2]
    else:
        raise UserError("Fine-pruning needs a convolution or a hidden linear layer; this network has neither.")
    name, layer = modules[index]
    follower = modules[index + 1][1] if index + 1 < len(modules) else None
    norm = follower if isinstance(follower, nn.BatchNorm2d | nn.BatchNorm1d) else None
    if norm is not None and norm.num_features != layer.weight.shape[0]:
        norm = None
    return name, layer, norm


def mean_activations(model: nn.Module, layer: nn.Module, x: np.ndarray, ctx: RunContext) -> np.ndarray:
    """Each unit's mean activation (after ReLU) over the clean images `x`."""
    import torch

    from attacks.backdoor.common import device_of
    from attacks.memory import fit_batch

    sums: list[torch.Tensor] = []

    def record(_module, _inputs, output) -> None:
        values = torch.relu(output.float())
        sums.append((values.mean(dim=(2, 3)) if values.dim() == 4 else values).sum(dim=0))

    device = device_of(model)
    batch = fit_batch(256, model, tuple(x.shape[1:]), str(device), gradient=False).batch_size
    handle = layer.register_forward_hook(record)
    try:
        with torch.inference_mode():
            for start in range(0, len(x), batch):
                ctx.check_cancel()
                model(torch.from_numpy(x[start : start + batch]).to(device))
    finally:
        handle.remove()
    return (torch.stack(sums).sum(dim=0) / len(x)).cpu().numpy()


def apply(layer: nn.Module, norm: nn.Module | None, keep: torch.Tensor) -> None:
    """Zero the pruned units (keep == 0) of `layer` and of its batch norm."""
    import torch

    with torch.no_grad():
        shape = (-1,) + (1,) * (layer.weight.dim() - 1)
        layer.weight.mul_(keep.view(shape).to(layer.weight))
        for module, names in ((layer, ("bias",)), (norm, ("weight", "bias"))):
            for name in names:
                tensor = getattr(module, name, None) if module is not None else None
                if tensor is not None:
                    tensor.mul_(keep.to(tensor))


def choose_pruning(
    model: nn.Module,
    layer: nn.Module,
    norm: nn.Module | None,
    x: np.ndarray,
    y: np.ndarray,
    *,
    max_accuracy_drop: float,
    ctx: RunContext,
) -> tuple[torch.Tensor, dict]:
    """Prune the most dormant units, as many as keep the clean accuracy on (x, y) within `max_accuracy_drop` of
    the unpruned model's (at most 95 %, tried in steps of 5 %; accuracy falls as more units go, so a binary
    search over the steps finds the largest). Leaves `layer` pruned; returns the keep mask and what was found."""
    import torch

    from attacks.hardening.measure import predictions

    activation = mean_activations(model, layer, x, ctx)
    order = np.argsort(activation, kind="stable")  # most dormant first
    units = len(order)
    original = {name: tensor.detach().clone() for name, tensor in layer.state_dict().items()}
    original_norm = {name: t.detach().clone() for name, t in norm.state_dict().items()} if norm is not None else {}

    def keep_mask(fraction: float) -> torch.Tensor:
        keep = torch.ones(units)
        keep[torch.from_numpy(order[: int(round(fraction * units))].copy())] = 0.0
        return keep

    def accuracy_with(fraction: float) -> float:
        layer.load_state_dict(original)
        if norm is not None:
            norm.load_state_dict(original_norm)
        apply(layer, norm, keep_mask(fraction))
        return float((predictions(model, x) == y).mean())

    baseline = accuracy_with(0.0)
    low, high, best = 0, len(FRACTIONS) - 1, 0.0
    while low <= high:
        ctx.check_cancel()
        middle = (low + high) // 2
        if accuracy_with(FRACTIONS[middle]) >= baseline - max_accuracy_drop:
            best, low = FRACTIONS[middle], middle + 1
        else:
            high = middle - 1
    accuracy = accuracy_with(best)
    keep = keep_mask(best)
    found = {
        "units": units,
        "pruned_units": int(units - keep.sum()),
        "pruned_fraction": best,
        "validation_samples": len(y),
        "validation_accuracy_before": round(baseline, 4),
        "validation_accuracy_pruned": round(accuracy, 4),
        "max_accuracy_drop": max_accuracy_drop,
    }
    return keep, found
