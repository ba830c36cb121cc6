"""The standard AutoAttack cascade: each stage attacks only the samples every earlier stage failed to fool.

Every candidate is projected onto the ε-ball, clipped to the input range and predicted again by the model itself
before it counts (`_verify`), so a sample is fooled only by a point that really lies in the threat model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from attacks.evasion import lp
from attacks.evasion.autoattack.autopgd import apgd
from attacks.evasion.autoattack.dlr import runner_up_classes
from attacks.evasion.autoattack.fab import fab_targeted
from attacks.evasion.autoattack.square_attack import square
from attacks.evasion.inference import QueryForward, query_forward

if TYPE_CHECKING:
    import torch
    from torch import nn

STAGES = ("apgd-ce", "apgd-t", "fab-t", "square")


class Context(Protocol):
    """What the cascade needs from a run context (`attacks.context.RunContext` has both)."""

    def check_cancel(self) -> None: ...

    def progress(self, percent: float, message: str = "") -> None: ...


@dataclass
class StageStats:
    name: str
    attacked: int  # samples still standing when the stage started
    fooled: int  # of those, how many it fooled (verified)
    seconds: float


@dataclass
class AutoAttackResult:
    adversarial: torch.Tensor  # same shape as x, on the CPU; the clean input wherever nothing fooled the model
    fooled: torch.Tensor  # bool per sample: some stage found a verified adversarial example
    clean_correct: torch.Tensor  # bool per sample: correctly classified before any attack
    stages: list[StageStats] = field(default_factory=list)
    query_backend: str = "torch"  # what answered FAB-T's and Square's gradient-free queries

    @property
    def robust(self) -> torch.Tensor:
        return self.clean_correct & ~self.fooled

    @property
    def robust_accuracy(self) -> float:
        return float(self.robust.float().mean()) if len(self.robust) else 0.0


def _verify(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, candidate: torch.Tensor, eps: float, norm: str, clip
) -> tuple[torch.Tensor, torch.Tensor]:
    """(point, fooled): the candidate projected into the ε-ball and the input range, predicted again."""
    import torch

    with torch.no_grad():
        point = lp.project_point(x, candidate, eps, norm, clip)
        fooled = (model(point).argmax(1) != y) & (lp.lp_norm(point - x, norm) <= eps * (1 + 1e-5) + 1e-7)
    return point, fooled


def autoattack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "inf",
    clip: tuple[float, float] = (0.0, 1.0),
    batch_size: int = 256,
    seed: int = 0,
    stages: Sequence[str] = STAGES,
    apgd_steps: int = 100,
    targets: int = 9,
    fab_steps: int = 100,
    square_queries: int = 5000,
    ctx: Context | None = None,
) -> AutoAttackResult:
    """The standard AutoAttack cascade on (x, y): robust = correctly classified and fooled by no stage.

    `x` and `y` may live anywhere; batches go to the model's device and results come back to the CPU. Iteration
    counts default to the standard version; `targets` is capped at num_classes − 1.
    """
    import torch

    lp.check_norm(norm)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage {unknown[0]!r}; choose from {STAGES}")
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    gen = torch.Generator(device=device).manual_seed(seed)
    x, y = torch.as_tensor(x).detach().float().cpu(), torch.as_tensor(y).long().cpu()
    adversarial = x.clone()
    fooled = torch.zeros(len(x), dtype=torch.bool)

    with torch.no_grad():
        clean_logits = (
            torch.cat([model(x[s : s + batch_size].to(device)).float().cpu() for s in range(0, len(x), batch_size)])
            if len(x)
            else torch.zeros((0, 1))
        )
    clean_correct = clean_logits.argmax(1) == y if len(x) else torch.zeros(0, dtype=torch.bool)
    num_classes = clean_logits.shape[1]
    count = max(1, min(targets, num_classes - 1))
    runner_ups = runner_up_classes(clean_logits, y, count) if len(x) else torch.zeros((0, count), dtype=torch.long)

    # Rough cost of each stage per sample, so progress moves evenly (APGD-T and FAB-T run once per target).
    weights = {
        "apgd-ce": apgd_steps,
        "apgd-t": apgd_steps * count,
        "fab-t": fab_steps * count,
        "square": 0.4 * square_queries,
    }
    total = sum(weights[s] for s in stages) or 1.0
    done = 0.0
    check = ctx.check_cancel if ctx is not None else None
    stats: list[StageStats] = []
    fast: QueryForward | None = None

    for stage in stages:
        standing = torch.nonzero(clean_correct & ~fooled).flatten()
        started, hits = time.perf_counter(), 0
        if fast is None and stage in ("fab-t", "square") and len(standing):
            fast = query_forward(model, x[standing[:batch_size]].to(device))
        for start in range(0, len(standing), batch_size):
            if ctx is not None:
                ctx.check_cancel()
                ctx.progress(
                    100 * (done + weights[stage] * start / max(len(standing), 1)) / total,
                    f"AutoAttack {stage}: {start}/{len(standing)} samples",
                )
            rows = standing[start : start + batch_size]
            xb, yb = x[rows].to(device), y[rows].to(device)
            candidates, found = xb.clone(), torch.zeros(len(rows), dtype=torch.bool, device=device)
            if stage == "apgd-ce":
                candidates, found = apgd(
                    model, xb, yb, eps=eps, norm=norm, steps=apgd_steps, clip=clip, generator=gen, check=check
                )
            elif stage == "square":  # untargeted: one run covers every class
                candidates, found = square(
                    model,
                    xb,
                    yb,
                    eps=eps,
                    norm=norm,
                    queries=square_queries,
                    clip=clip,
                    generator=gen,
                    check=check,
                    predict=fast,
                )
            else:  # the targeted stages: one run per runner-up class, on the samples no earlier target fooled
                for k in range(count):
                    left = torch.nonzero(~found).flatten()
                    if len(left) == 0:
                        break
                    if check is not None:
                        check()
                    tb = runner_ups[rows][:, k].to(device)[left]
                    if stage == "apgd-t":
                        adv, hit = apgd(
                            model,
                            xb[left],
                            yb[left],
                            eps=eps,
                            norm=norm,
                            steps=apgd_steps,
                            target=tb,
                            clip=clip,
                            generator=gen,
                            check=check,
                        )
                    else:
                        adv, hit = fab_targeted(
                            model,
                            xb[left],
                            yb[left],
                            tb,
                            eps=eps,
                            norm=norm,
                            steps=fab_steps,
                            clip=clip,
                            check=check,
                            predict=fast,
                        )
                    candidates[left[hit]], found[left[hit]] = adv[hit], True
            if found.any():
                picked = torch.nonzero(found).flatten()
                point, ok = _verify(model, xb[picked], yb[picked], candidates[picked], eps, norm, clip)
                good = rows[picked[ok].cpu()]
                adversarial[good] = point[ok].cpu()
                fooled[good] = True
                hits += int(ok.sum())
        done += weights[stage]
        stats.append(StageStats(stage, int(len(standing)), hits, round(time.perf_counter() - started, 4)))
    if ctx is not None:
        ctx.progress(100, "AutoAttack done")
    return AutoAttackResult(
        adversarial=adversarial,
        fooled=fooled,
        clean_correct=clean_correct,
        stages=stats,
        query_backend=fast.backend if fast is not None else "torch",
    )
