"""FAB-T, the cascade's third stage: the targeted fast adaptive boundary attack (Croce & Hein, ICML 2020).

100 iterations per target class (the runner-up classes of the clean logits, `attacks.evasion.autoattack.dlr`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from attacks.evasion import lp
from attacks.evasion.active import ActiveSamples
from attacks.evasion.autoattack import passes

if TYPE_CHECKING:
    import torch
    from torch import nn


def hyperplane_step(
    w: torch.Tensor, c: torch.Tensor, z: torch.Tensor, low: float, high: float, norm: str
) -> torch.Tensor:
    """Smallest δ (in `norm`) with w·δ = c and low ≤ z + δ ≤ high, per row of the flattened (n, d) inputs.

    With the box, the optimum is δ_i = sign(w_i)·min(r, m_i) (L∞) or sign(w_i)·|w_i|·min(r, m_i/|w_i|) (L2), where
    m_i is how far coordinate i may move in the useful direction and r is the one scalar that makes w·δ = c. The
    attained w·δ, Σ a_i·min(r, t_i), is piecewise linear and increasing in r, so sorting the breakpoints t_i gives r
    exactly. Where the box does not allow w·δ = c, δ goes as far as the box lets it.
    """
    import torch

    sign = torch.where(c < 0, -1.0, 1.0).to(w.dtype)
    w = w * sign[:, None]
    c = c.abs()
    absw = w.abs()
    room = torch.where(w > 0, high - z, z - low).clamp_min(0.0)
    active = absw > 0
    if norm == "inf":
        a, t = absw, room
    else:
        a, t = absw**2, room / absw.clamp_min(1e-30)
    a = torch.where(active, a, torch.zeros_like(a))
    t = torch.where(active, t, torch.zeros_like(t))
    t_sorted, order = t.sort(dim=1)
    a_sorted = a.gather(1, order)
    at = a_sorted * t_sorted
    below = at.cumsum(1)  # Σ_{j≤k} a_j t_j
    tail = a_sorted.sum(1, keepdim=True) - a_sorted.cumsum(1)  # Σ_{j>k} a_j
    reach = below + t_sorted * tail  # w·δ attained at r = t_(k)
    k = (reach < c[:, None]).sum(1).clamp(max=t.shape[1] - 1)[:, None]
    r = (c - (below.gather(1, k) - at.gather(1, k))[:, 0]) / (tail.gather(1, k) + a_sorted.gather(1, k))[
        :, 0
    ].clamp_min(1e-30)
    r = torch.where(reach[:, -1] >= c, r, t_sorted[:, -1])
    magnitude = torch.minimum(r[:, None], t)
    if norm == "2":
        magnitude = magnitude * absw
    # δ solves the flipped problem w'·δ = |c| with w' = sign(c)·w, which is the same equation as w·δ = c.
    return torch.where(active, w.sign() * magnitude, torch.zeros_like(w))


def fab_targeted(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    target: torch.Tensor,
    *,
    eps: float,
    norm: str = "inf",
    steps: int = 100,
    clip: tuple[float, float] = (0.0, 1.0),
    check: Callable[[], None] | None = None,
    predict: Callable[[torch.Tensor], torch.Tensor] | None = None,
    alpha_max: float = 0.1,
    overshoot: float = 1.05,
    backtrack: float = 0.9,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Targeted FAB on one batch: walk to the linearised y/target boundary, biased towards x, step back on success.

    Each iteration linearises the y/target boundary at the iterate (one forward and input gradient), projects both
    the iterate and x onto it inside the input box, and moves to the α-weighted mix of those projections (α ≤
    alpha_max grows with the iterate's distance to the boundary relative to x's), overshooting by 5%. The new
    iterate is then classified (one gradient-free forward, through `predict` when given): if it fools the model
    inside the ε-ball it is kept and the sample drops out; if it fools it outside the ball it is pulled back towards
    x by `backtrack`, and the next linearisation happens there. Returns (candidates, found).
    """
    import torch

    low, high = clip
    x = x.detach()
    active = ActiveSamples(x)
    xs, ys, ts, xa = x, y, target, x.clone()
    classify = predict or model

    def boundary_loss(ys: torch.Tensor, ts: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda logits: logits.gather(1, ts[:, None])[:, 0] - logits.gather(1, ys[:, None])[:, 0]

    def inside(fooled: torch.Tensor) -> torch.Tensor:
        """The iterates that fool the model inside the ball: they are kept and their samples are done."""
        return fooled & (lp.lp_norm(xa - xs, norm) <= eps)

    for i in range(steps):
        logits, g, w = passes.logits_and_grad(model, xa, boundary_loss(ys, ts))
        with torch.no_grad():
            # These logits classify the iterate too (x itself on the first pass, a pulled-back point later).
            xs, ys, ts, xa, g, w = active.drop(inside(logits.argmax(1) != ys), xa, xs, ys, ts, xa, g, w)
            if len(active) == 0:
                break
            shape = xs.shape
            wf, xf, af = w.flatten(1), xs.flatten(1), xa.flatten(1)
            # Linearised boundary at the iterate: w·(u − x_a) + g = 0.
            d_iter = hyperplane_step(wf, -g, af, low, high, norm)
            d_orig = hyperplane_step(wf, -g - (wf * (xf - af)).sum(1), xf, low, high, norm)
            n_iter, n_orig = lp.lp_norm(d_iter, norm), lp.lp_norm(d_orig, norm)
            alpha = (n_iter / (n_iter + n_orig).clamp_min(1e-12)).clamp(0.0, alpha_max)[:, None]
            moved = (1 - alpha) * (af + overshoot * d_iter) + alpha * (xf + overshoot * d_orig)
            xa = moved.clamp(low, high).view(shape)
            fooled = classify(xa).argmax(1) != ys
            xs, ys, ts, xa, fooled = active.drop(inside(fooled), xa, xs, ys, ts, xa, fooled)
            if len(active) == 0:
                break
            # Fooled, but outside the ball: step back towards x; the next linearisation happens there.
            xa[fooled] = xs[fooled] + backtrack * (xa[fooled] - xs[fooled])
        if check is not None and i % passes.CHECK_EVERY == passes.CHECK_EVERY - 1:
            check()
    return active.result, active.found
