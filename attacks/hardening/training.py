"""The training step of each hardening method, and the epoch loop that checkpoints after every epoch.

Losses per batch:
- "clean": cross-entropy on the batch as it is (all-layer fine-tuning, fine-pruning's and unlearning's tuning);
- "pgd": Madry et al.'s adversarial training: cross-entropy on PGD examples found in the ε-ball (random start,
  every step taken, the model in eval mode while the attack runs);
- "trades": Zhang et al.'s TRADES: cross-entropy on the clean batch plus β · KL(f(x) ‖ f(x′)), where x′ maximises
  that KL divergence in the ε-ball (starting 0.001·N(0, 1) away from x).

The attack's passes (finding x′) run in `Recipe.precision`: float32, or bfloat16 (torch.autocast, logits back in
float32) where precision "auto" picks it (attacks.environment.resolve_precision). Only the choice of x′ depends on
it: the training loss, its gradient and the optimiser step are float32, and the hardened model is measured in
float32 (attacks.hardening.measure).

All randomness (the batch order, the attacks' starting points) comes from one seeded CPU generator whose state is
in every checkpoint, so a resumed run makes the very same draws as one that was never stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from attacks.context import RunContext
from attacks.evasion import lp
from attacks.evasion.pgd import default_step_size

if TYPE_CHECKING:
    import torch
    from torch import nn

LOSSES = ("clean", "pgd", "trades")


@dataclass(frozen=True)
class Recipe:
    """How a hardening run trains: Adam on every parameter, shuffled mini-batches, and the loss's settings."""

    loss: str
    epochs: int
    learning_rate: float
    weight_decay: float
    batch_size: int
    eps: float = 0.0
    norm: str = "inf"
    attack_steps: int = 10
    beta: float = 6.0
    clip: tuple[float, float] = (0.0, 1.0)
    precision: str = "float32"  # the attack's passes: "float32" or "bfloat16"

    @property
    def step_size(self) -> float:
        """Madry et al.'s 2.5·ε/steps: enough to cross the ball and back once from any starting point."""
        return default_step_size(self.eps, self.attack_steps)


def _project(x: torch.Tensor, candidate: torch.Tensor, recipe: Recipe) -> torch.Tensor:
    return lp.project_point(x, candidate, recipe.eps, recipe.norm, recipe.clip)


def _ascend(
    model: nn.Module, x: torch.Tensor, start: torch.Tensor, loss_of: Callable[[torch.Tensor], torch.Tensor], r: Recipe
) -> torch.Tensor:
    """`attack_steps` steepest-ascent steps of `loss_of` from `start`, projected onto the ε-ball around x."""
    import torch

    point = _project(x, start, r)
    for _ in range(r.attack_steps):
        point.requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_of(point), point)
        with torch.no_grad():
            point = _project(x, point + r.step_size * lp.steepest_ascent(grad, r.norm), r)
    return point.detach()


def batch_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, recipe: Recipe, generator: Any) -> torch.Tensor:
    """The training loss of one batch under `recipe.loss` (the module's docstring)."""
    import torch
    import torch.nn.functional as F

    if recipe.loss == "clean":
        return F.cross_entropy(model(x), y)

    def attacked(point: torch.Tensor) -> torch.Tensor:
        """The network's logits for the attack, computed in the recipe's precision, returned in float32."""
        with torch.autocast(point.device.type, dtype=torch.bfloat16, enabled=recipe.precision == "bfloat16"):
            return model(point).float()

    model.eval()  # the attack sees the network as it predicts (batch norm statistics frozen)
    if recipe.loss == "pgd":
        start = x + lp.random_start(x, recipe.eps, recipe.norm, generator, uniform_in_ball=False)
        adversarial = _ascend(model, x, start, lambda p: F.cross_entropy(attacked(p), y, reduction="sum"), recipe)
        model.train()
        return F.cross_entropy(model(adversarial), y)
    with_clean = F.softmax(model(x), dim=1).detach()
    start = x + 0.001 * torch.randn(x.shape, generator=generator).to(x)
    adversarial = _ascend(
        model,
        x,
        start,
        lambda p: F.kl_div(F.log_softmax(attacked(p), dim=1), with_clean, reduction="sum"),
        recipe,
    )
    model.train()
    logits = model(x)
    robust = F.kl_div(F.log_softmax(model(adversarial), dim=1), F.softmax(logits, dim=1), reduction="batchmean")
    return F.cross_entropy(logits, y) + recipe.beta * robust


@dataclass
class EpochLoop:
    """Everything one run's epochs need; `run` trains from `start_epoch` to `recipe.epochs`."""

    model: nn.Module
    optimiser: torch.optim.Optimizer
    generator: torch.Generator
    x: np.ndarray
    y: np.ndarray
    recipe: Recipe
    device: str
    ctx: RunContext
    after_step: Callable[[], None]  # e.g. keep pruned units at zero
    evaluate: Callable[[], dict[str, Any]]  # the clean accuracy reported per epoch
    on_epoch_end: Callable[[int, list[dict[str, Any]]], None]  # write the checkpoint
    span: tuple[float, float] = (10.0, 85.0)

    def run(self, start_epoch: int, history: list[dict[str, Any]]) -> list[dict[str, Any]]:
        import torch

        tx = torch.from_numpy(np.ascontiguousarray(self.x, dtype=np.float32))
        ty = torch.from_numpy(self.y.astype(np.int64))
        size = max(1, min(self.recipe.batch_size, len(tx)))
        batches = -(-len(tx) // size)
        epochs = self.recipe.epochs
        low, high = self.span
        for epoch in range(start_epoch + 1, epochs + 1):
            began = time.perf_counter()
            self.model.train()
            order = torch.randperm(len(tx), generator=self.generator)
            total, seen = 0.0, 0
            for number, start in enumerate(range(0, len(tx), size)):
                self.ctx.check_cancel()
                index = order[start : start + size]
                inputs, labels = tx[index].to(self.device), ty[index].to(self.device)
                loss = batch_loss(self.model, inputs, labels, self.recipe, self.generator)
                self.optimiser.zero_grad(set_to_none=True)
                loss.backward()
                self.optimiser.step()
                self.after_step()
                total += float(loss.detach()) * len(index)
                seen += len(index)
                done = (epoch - 1 + (number + 1) / batches) / epochs
                self.ctx.progress(low + (high - low) * done, f"Epoch {epoch}/{epochs}: batch {number + 1}/{batches}")
            self.model.eval()
            accuracy = self.evaluate()
            history.append(
                {
                    "epoch": epoch,
                    "loss": round(total / max(seen, 1), 6),
                    "clean_accuracy": accuracy,
                    "seconds": round(time.perf_counter() - began, 3),
                }
            )
            self.on_epoch_end(epoch, history)
            self.ctx.progress(
                low + (high - low) * epoch / epochs,
                f"Epoch {epoch}/{epochs} done: loss {history[-1]['loss']:.4f}, clean accuracy {accuracy['value']:.3f}",
            )
        self.model.eval()
        return history
