"""Robust accuracy over an ε grid with PGD, without one full attack per ε.

Each correctly classified sample gets a threshold on the grid: the first ε at which PGD fools it. Two rules fill in
the rest of its row:
- fooled at ε ⇒ fooled at every larger ε (its adversarial example lies inside the larger ball): exact;
- PGD cannot fool it at ε ⇒ robust at every smaller ε (PGD's success grows with ε): the approximation, checked
  against separate per-ε runs in tests/attacks/evasion/test_curve.py.
So a threshold t needs only two attacks: one that fails at grid[t - 1] and one that succeeds at grid[t].

`mode="search"` (default) guesses t first, from one forward and backward pass: the first-order distance to the
decision boundary, margin / ‖∇margin‖ (dual norm: L1 for L∞, L2 for L2), where margin is the true logit minus the
best other one. It attacks at the guess, then walks outward one grid point per round (fooled: step down; robust:
step up) until a failure and a success are adjacent. When the guess lands within one grid point of t (most samples
on the digits CNN: 2.1 attacks per sample on the benchmark's 8-point grid) the cost is one full-length attack that
fails plus one that succeeds early, wherever the thresholds lie. A step up starts from the iterate of the failed
attack below, stretched to the larger radius (already a high-loss point, so the attack there stops early); a step
down starts at random, like a separate run. The guess decides only where the walk starts, i.e. the cost; the warm
start of a step up makes that one attack somewhat stronger than a separate run's random start, a second small
source of disagreement beside the approximation above. All samples of a round run in one batched PGD with a radius
(and step size, 2.5·ε/steps unless fixed) per sample; the loop is attacks/evasion/pgd.py's, which drops a sample
the moment it is misclassified.
`mode="bisect"` finds t by bisection instead (at most ⌈log2(G + 1)⌉ attacks per sample, no guess);
`mode="ascending"` keeps only the exact rule (attack at each ε every sample not yet fooled);
`mode="separate"` runs G independent attacks (the reference).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from attacks.context import RunContext
from attacks.evasion import flags as checks
from attacks.evasion import lp
from attacks.evasion.attacks import Settings
from attacks.evasion.core import clean_predictions, seed_everything
from attacks.evasion.metrics import rate
from attacks.evasion.pgd import judged
from attacks.evasion.target import Target

if TYPE_CHECKING:
    import torch
    from torch import nn

# The first probe is at the grid point reached by 0.8 × the first-order distance, i.e. it errs low: a step up after
# a failure is cheap (it starts from the failed attack's iterate and usually succeeds within a few steps), a step
# down after a success costs a full attack from a random start. Chosen on the digits CNN (benchmarks/evasion.py):
# 1.0 → 2.01, 0.9 → 1.90, 0.8 → 1.84, 0.7 → 1.95 sample-gradients per sample relative to one PGD run.
GUESS_SHRINK = 0.8
MODES = ("search", "bisect", "ascending", "separate")


def _pgd_fooled(target: Target, x: np.ndarray, y: np.ndarray, s: Settings, ctx: RunContext, gen: Any) -> np.ndarray:
    import torch

    fooled = np.zeros(len(x), dtype=bool)
    for start in range(0, len(x), s.batch_size):
        ctx.check_cancel()
        xb = torch.from_numpy(np.ascontiguousarray(x[start : start + s.batch_size], np.float32)).to(target.device)
        yb = torch.from_numpy(y[start : start + s.batch_size]).to(target.device)
        _, hit = target.pgd(
            xb,
            yb,
            eps=s.eps,
            norm=s.norm,
            steps=s.steps,
            step_size=s.step_size,
            clip=target.clip,
            generator=gen,
        )
        fooled[start : start + len(xb)] = hit.cpu().numpy()
    return fooled


def _bisect(
    target: Target, x: np.ndarray, y: np.ndarray, grid: list[float], settings: Settings, ctx: RunContext, gen: Any
) -> tuple[np.ndarray, np.ndarray]:
    """(first grid index that fools each sample, len(grid) when none; samples attacked at each ε)."""
    low = np.zeros(len(x), dtype=np.int64)  # below this index the sample is known (taken) robust
    high = np.full(len(x), len(grid), dtype=np.int64)  # at and above this index it is known fooled
    attacked = np.zeros(len(grid), dtype=np.int64)
    rounds, total_rounds = 0, int(np.ceil(np.log2(len(grid) + 1)))
    while (low < high).any():
        open_ = low < high
        mid = (low + high) // 2
        for g in np.unique(mid[open_]):
            members = np.flatnonzero(open_ & (mid == g))
            ctx.progress(5 + 90 * rounds / total_rounds, f"PGD at ε={grid[g]:g} on {len(members)} samples")
            fooled = _pgd_fooled(target, x[members], y[members], replace(settings, eps=grid[g]), ctx, gen)
            attacked[g] += len(members)
            high[members[fooled]] = g
            low[members[~fooled]] = g + 1
        rounds += 1
    return high, attacked


def _pgd_radii(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: torch.Tensor,
    start: torch.Tensor,
    *,
    norm: str,
    steps: int,
    step_size: float | None,
    clip: tuple[float, float],
    judge: nn.Module | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """pgd.py's loop with a radius per sample and a given start. Returns (fooled, final or fooling δ).
    `judge` decides what counts as misclassified, as in pgd.py (default: `model`'s own logits)."""
    import torch
    import torch.nn.functional as F

    eps = lp.per_sample(eps, x)
    step = eps * (2.5 / max(steps, 1)) if step_size is None else torch.full_like(eps, step_size)
    delta = lp.project(start, x, eps, norm, clip)
    result = delta.clone()
    fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    index = torch.arange(len(x), device=x.device)
    xs, ys = x, y
    for _ in range(steps):
        if len(index) == 0:
            break
        delta.requires_grad_(True)
        logits = model(xs + delta)
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, ys, reduction="sum"), delta)
        with torch.no_grad():
            delta = delta.detach()
            wrong = judged(logits.argmax(1) != ys, judge, xs + delta, ys)
            if wrong.any():  # misclassified at this point: keep it and drop the sample, as pgd.py does
                result[index[wrong]] = delta[wrong]
                fooled[index[wrong]] = True
                keep = ~wrong
                index, xs, ys, delta, grad = index[keep], xs[keep], ys[keep], delta[keep], grad[keep]
                eps, step = eps[keep], step[keep]
            delta = lp.project(delta + step * lp.steepest_ascent(grad, norm), xs, eps, norm, clip)
    if len(index):
        with torch.no_grad():
            result[index] = delta
            fooled[index] = (judge or model)(xs + delta).argmax(1) != ys
    return fooled, result


def _first_order_guess(
    target: Target, x: np.ndarray, y: np.ndarray, norm: str, batch_size: int, ctx: RunContext
) -> tuple[np.ndarray, np.ndarray]:
    """(clean predictions, first-order distance to the boundary margin / ‖∇margin‖_dual) in one pass."""
    import torch

    predictions, distances = [], []
    for start in range(0, len(x), batch_size):
        ctx.check_cancel()
        xb = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size], np.float32)).to(target.device)
        yb = torch.from_numpy(y[start : start + batch_size]).to(target.device)
        xb.requires_grad_(True)
        logits = target.model(xb)  # type: ignore[misc]
        true = logits.gather(1, yb[:, None])[:, 0]
        others = logits.scatter(1, yb[:, None], float("-inf")).amax(1)
        margin = true - others
        (grad,) = torch.autograd.grad(margin.sum(), xb)
        predictions.append(logits.detach().argmax(1).cpu().numpy())
        distances.append((margin.detach() / lp.dual_norm(grad, norm).clamp_min(1e-12)).cpu().numpy())
    if not predictions:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(predictions), np.concatenate(distances)


def _search(
    target: Target,
    x: np.ndarray,
    y: np.ndarray,
    guess: np.ndarray,
    grid: list[float],
    settings: Settings,
    ctx: RunContext,
    gen: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """(first grid index that fools each sample, len(grid) when none; samples attacked at each ε)."""
    import torch

    n, size = len(x), len(grid)
    device = target.device
    radii = torch.tensor(grid, dtype=torch.float32, device=device)
    xt = torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(device)
    yt = torch.from_numpy(y).to(device)
    # NaN (no gradient at all) and distances beyond the grid go to its last point.
    distance = np.nan_to_num(guess * GUESS_SHRINK, nan=np.inf)
    probe = np.searchsorted(np.asarray(grid), distance, side="left").clip(0, size - 1)
    robust_below = np.full(n, -1, dtype=np.int64)  # highest index where an attack failed
    fooled_from = np.full(n, size, dtype=np.int64)  # lowest index where an attack succeeded
    warm = torch.zeros_like(xt)  # where each sample's next attack starts, when `has_warm`
    has_warm = np.zeros(n, dtype=bool)
    attacked = np.zeros(size, dtype=np.int64)
    open_ = np.ones(n, dtype=bool)
    while open_.any():
        rows = np.flatnonzero(open_)
        ctx.progress(
            5 + 90 * (1 - len(rows) / max(n, 1)), f"PGD at {len(np.unique(probe[rows]))} radii on {len(rows)} samples"
        )
        fooled = np.zeros(len(rows), dtype=bool)
        for start in range(0, len(rows), settings.batch_size):
            ctx.check_cancel()
            chunk = rows[start : start + settings.batch_size]
            index = torch.from_numpy(chunk).to(device)
            eps = radii[torch.from_numpy(probe[chunk]).to(device)]
            # pgd.py's random start with a radius per sample: a start in the unit ball, stretched to each ε.
            begin = lp.random_start(xt[index], 1.0, settings.norm, gen) * lp.per_sample(eps, xt)
            if has_warm[chunk].any():
                mask = lp.per_sample(torch.from_numpy(has_warm[chunk]).to(device), xt)
                begin = torch.where(mask, warm[index], begin)
            hit, delta = _pgd_radii(
                target.gradient_model,
                xt[index],
                yt[index],
                eps,
                begin,
                norm=settings.norm,
                steps=settings.steps,
                step_size=settings.step_size,
                clip=target.clip,
                judge=target.judge,
            )
            fooled[start : start + len(chunk)] = hit.cpu().numpy()
            # A step up starts from the failed attack's last iterate, stretched to the next radius.
            up = probe[chunk] + 1
            scale = radii[torch.from_numpy(up.clip(max=size - 1)).to(device)] / eps.clamp_min(1e-12)
            warm[index] = delta * lp.per_sample(scale, delta)
        where = probe[rows]
        np.add.at(attacked, where, 1)
        fooled_from[rows[fooled]] = where[fooled]
        robust_below[rows[~fooled]] = where[~fooled]
        probe[rows] = np.where(fooled, where - 1, where + 1)
        has_warm[rows] = ~fooled
        open_[rows] = (probe[rows] > robust_below[rows]) & (probe[rows] < fooled_from[rows])
    return fooled_from, attacked


def robustness_curve(
    target: Target,
    x: np.ndarray,
    y: np.ndarray,
    eps_grid: Sequence[float],
    settings: Settings,
    ctx: RunContext,
    *,
    mode: str = "search",
) -> dict[str, Any]:
    """PGD robust accuracy at each ε of the grid; `mode` is "search" (default), "bisect", "ascending" or "separate"."""
    import torch

    if mode not in MODES:
        raise ValueError(f"unknown curve mode {mode!r}; choose from {', '.join(MODES)}")
    grid = sorted(float(e) for e in eps_grid)
    seed_everything(settings.seed)
    gen = torch.Generator(device=target.device).manual_seed(settings.seed)
    started = time.perf_counter()
    if mode == "search":  # the guess's forward pass gives the clean predictions too
        clean_pred, guess = _first_order_guess(target, x, y, settings.norm, settings.batch_size, ctx)
    else:
        clean_pred = clean_predictions(target, x, settings.batch_size, ctx)
    correct = np.flatnonzero(clean_pred == y)
    clean_accuracy = rate(len(correct), len(x))
    points = []
    if mode in ("search", "bisect"):
        if mode == "search":
            threshold, attacked = _search(target, x[correct], y[correct], guess[correct], grid, settings, ctx, gen)
        else:
            threshold, attacked = _bisect(target, x[correct], y[correct], grid, settings, ctx, gen)
        for i, eps in enumerate(grid):
            robust = int((threshold > i).sum())
            points.append({"eps": eps, "robust_accuracy": rate(robust, len(x)), "attacked": int(attacked[i])})
    else:
        robust_mask = np.zeros(len(x), dtype=bool)
        robust_mask[correct] = True
        for i, eps in enumerate(grid):
            ctx.progress(5 + 90 * i / len(grid), f"PGD at ε={eps:g}")
            todo = np.flatnonzero(robust_mask) if mode == "ascending" else correct
            fooled = _pgd_fooled(target, x[todo], y[todo], replace(settings, eps=eps), ctx, gen)
            if mode == "ascending":
                robust_mask[todo[fooled]] = False
                still = int(robust_mask.sum())
            else:
                still = len(todo) - int(fooled.sum())
            points.append({"eps": eps, "robust_accuracy": rate(still, len(x)), "attacked": int(len(todo))})
    flag = checks.curve_flag(grid, [p["robust_accuracy"] for p in points])
    found = [f for f in (flag, checks.randomness_flag(target, x[:64])) if f is not None]
    return {
        "clean_accuracy": clean_accuracy,
        "norm": settings.norm,
        "steps": settings.steps,
        "mode": mode,
        "curve": points,
        "attacks_per_sample": round(sum(p["attacked"] for p in points) / max(len(correct), 1), 3),
        "wall_seconds": round(time.perf_counter() - started, 4),
        "device": target.device,
        "precision": target.precision,  # PGD's gradients; every point's successes are float32's answer
        "flags": found,
        "trustworthy": not found,
        "verdict": checks.verdict(found),
    }
