"""What every AutoAttack stage shares: the gradient pass and how often a batch checks for cancellation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn

CHECK_EVERY = 50  # iterations between cancel checks inside a batch


def logits_and_grad(
    model: nn.Module, x: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits, per-sample loss, gradient of the loss with respect to x): one forward and one input backward."""
    import torch

    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        logits = model(x)
        loss = loss_fn(logits)
        # Summed: each sample's gradient is independent of who else is in the batch.
        (grad,) = torch.autograd.grad(loss.sum(), x)
    return logits.detach(), loss.detach(), grad.detach()
