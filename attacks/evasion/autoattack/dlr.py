"""APGD-T's loss and targets: the targeted DLR loss, and the runner-up classes the targeted stages aim at."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def dlr_targeted(y: torch.Tensor, t: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Targeted DLR: −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2), scale-invariant in the logits.

    Fewer than four classes leave no π3, π4: the plain logit difference z_t − z_y takes its place.
    """

    def loss(logits: torch.Tensor) -> torch.Tensor:
        z_y = logits.gather(1, y[:, None])[:, 0]
        z_t = logits.gather(1, t[:, None])[:, 0]
        if logits.shape[1] < 4:
            return z_t - z_y
        top = logits.topk(4, dim=1).values
        return -(z_y - z_t) / (top[:, 0] - (top[:, 2] + top[:, 3]) / 2 + 1e-12)

    return loss


def runner_up_classes(logits: torch.Tensor, y: torch.Tensor, count: int) -> torch.Tensor:
    """(n, count): the classes other than y in decreasing order of clean logit (APGD-T's and FAB-T's targets)."""
    order = logits.scatter(1, y[:, None], float("-inf")).argsort(dim=1, descending=True)
    return order[:, :count]
