"""The samples of a batch an attack is still working on ("drop the fooled").

A sample whose iterate fools the model is finished: its point is written back to its place in the batch and it
leaves every per-sample tensor the attack carries, so later iterations cost nothing for it. PGD and the AutoAttack
stages all keep their state this way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import torch

State = TypeVar("State", bound="torch.Tensor | None")


class ActiveSamples:
    """`result` and `found` are per sample of the whole batch; `index` holds the batch positions still active."""

    def __init__(self, x: torch.Tensor) -> None:
        import torch

        self.result = x.detach().clone()  # the clean input until a sample is settled
        self.found = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        self.index = torch.arange(len(x), device=x.device)

    def __len__(self) -> int:
        return len(self.index)

    def drop(self, done: torch.Tensor, points: torch.Tensor, *state: State) -> tuple[State, ...]:
        """Record `points[done]` as found for those samples and remove them: `state` (tensors with one row per active
        sample, or None) comes back without their rows, unchanged when `done` is all False."""
        if not done.any():
            return state
        finished = self.index[done]
        self.result[finished] = points[done]
        self.found[finished] = True
        keep = ~done
        self.index = self.index[keep]
        return tuple(t if t is None else t[keep] for t in state)  # type: ignore[misc]

    def settle(self, points: torch.Tensor, found: torch.Tensor) -> None:
        """Write the final points of every active sample, with whether each fooled the model."""
        self.result[self.index] = points
        self.found[self.index] = found
