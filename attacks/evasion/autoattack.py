"""AutoAttack, standard version (Croce & Hein, ICML 2020), as plain torch code for L∞ and L2.

The cascade runs four attacks in turn, each only on the samples that every earlier one failed to fool:

- APGD-CE: auto-PGD on the cross-entropy loss, 100 iterations, step size 2ε halved at checkpoints when progress
  stalls, momentum 0.75;
- APGD-T: the same optimiser on the targeted DLR loss, once per target class (the 9 runner-up classes of the
  clean logits, or num_classes − 1 when there are fewer);
- FAB-T: the targeted fast adaptive boundary attack (Croce & Hein, ICML 2020), 100 iterations per target class;
- Square: the score-based random-search attack (Andriushchenko et al., ECCV 2020), 5000 queries, margin loss.

Every candidate is projected onto the ε-ball, clipped to the input range and predicted again before it counts, so
a sample is fooled only by a point that really lies in the threat model. A sample drops out of a stage as soon as
it is fooled: nothing later can change its verdict, and it costs nothing more.

Work goes stage by stage over the surviving samples in batches of `batch_size` (memory is bounded by the batch),
on the model's device, with randomness drawn from one seeded `torch.Generator`. Cancellation is checked between
batches and every few dozen iterations inside them. FAB-T's checks and Square's queries need no gradient: on the CPU
they go through `attacks.evasion.inference.query_forward` (onnxruntime, checked against the model first), the
gradient passes and the final verification through the model itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from attacks.evasion.inference import QueryForward, query_forward

if TYPE_CHECKING:
    import torch
    from torch import nn

STAGES = ("apgd-ce", "apgd-t", "fab-t", "square")
NORMS = ("inf", "2")
CHECK_EVERY = 50  # iterations between cancel checks inside a batch


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


# ----------------------------------------------------------------------------------------------- geometry helpers


def _view(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-sample values shaped to broadcast against `like`."""
    return t.view(-1, *([1] * (like.dim() - 1)))


def _norm(delta: torch.Tensor, norm: str) -> torch.Tensor:
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "inf" else flat.norm(dim=1)


def _into_ball(x: torch.Tensor, candidate: torch.Tensor, eps: float, norm: str, low: float, high: float):
    """Project `candidate` onto the ε-ball around x, then into the input range (which only shrinks the step)."""
    delta = candidate - x
    if norm == "inf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * _view((eps / _norm(delta, "2").clamp_min(1e-12)).clamp(max=1.0), delta)
    return (x + delta).clamp(low, high)


def _direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    if norm == "inf":
        return grad.sign()
    return grad / _view(_norm(grad, "2").clamp_min(1e-12), grad)


def _random_start(x: torch.Tensor, eps: float, norm: str, gen: torch.Generator) -> torch.Tensor:
    import torch

    if norm == "inf":
        return (torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) * 2 - 1) * eps
    # Uniform in the L2 ball: a random direction times ε·u^(1/d).
    direction = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    radius = torch.rand((len(x),), generator=gen, device=x.device, dtype=x.dtype) ** (1.0 / x[0].numel()) * eps
    return direction / _view(_norm(direction, "2").clamp_min(1e-12), x) * _view(radius, x)


def _logits_and_grad(
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


# --------------------------------------------------------------------------------------------------------- losses


def _ce(y: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    import torch.nn.functional as F

    return lambda logits: F.cross_entropy(logits, y, reduction="none")


def _dlr_targeted(y: torch.Tensor, t: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
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


def _margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """z_y − max_{j≠y} z_j: negative exactly when the sample is misclassified."""
    z_y = logits.gather(1, y[:, None])[:, 0]
    others = logits.scatter(1, y[:, None], float("-inf"))
    return z_y - others.amax(1)


def _runner_up_classes(logits: torch.Tensor, y: torch.Tensor, count: int) -> torch.Tensor:
    """(n, count): the classes other than y in decreasing order of clean logit."""
    order = logits.scatter(1, y[:, None], float("-inf")).argsort(dim=1, descending=True)
    return order[:, :count]


# ----------------------------------------------------------------------------------------------------------- APGD


def _checkpoint_lengths(steps: int) -> tuple[int, int, int]:
    """APGD's checkpoints w_j = ⌈p_j·N⌉ with p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)."""
    return max(math.ceil(0.22 * steps), 1), math.ceil(0.03 * steps), max(math.ceil(0.06 * steps), 1)


def apgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "inf",
    steps: int = 100,
    target: torch.Tensor | None = None,
    clip: tuple[float, float] = (0.0, 1.0),
    generator: torch.Generator | None = None,
    check: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Auto-PGD on one batch: cross-entropy (untargeted) or, given `target`, targeted DLR.

    Returns (candidates, found): for each sample the first iterate that was misclassified, or x when none was.
    """
    import torch

    low, high = clip
    gen = generator or torch.Generator(device=x.device).manual_seed(0)
    x = x.detach()
    result, found = x.clone(), torch.zeros(len(x), dtype=torch.bool, device=x.device)
    index = torch.arange(len(x), device=x.device)
    xs, ys, ts = x, y, target

    def loss_for(ys: torch.Tensor, ts: torch.Tensor | None) -> Callable[[torch.Tensor], torch.Tensor]:
        return _ce(ys) if ts is None else _dlr_targeted(ys, ts)

    xa = _into_ball(xs, xs + _random_start(xs, eps, norm, gen), eps, norm, low, high)
    logits, loss, grad = _logits_and_grad(model, xa, loss_for(ys, ts))
    step = torch.full((len(xs),), 2.0 * eps, device=x.device, dtype=x.dtype)
    x_prev, x_best, grad_best, loss_best = xa.clone(), xa.clone(), grad.clone(), loss.clone()
    loss_prev, loss_best_at_check = loss.clone(), loss.clone()
    increases = torch.zeros(len(xs), device=x.device)
    reduced_at_check = torch.zeros(len(xs), dtype=torch.bool, device=x.device)
    period, shrink, shortest = _checkpoint_lengths(steps)
    since_check = 0

    for i in range(steps + 1):
        with torch.no_grad():
            wrong = logits.argmax(1) != ys
            if wrong.any():  # this iterate already fools the model: keep it and drop the sample
                result[index[wrong]] = xa[wrong]
                found[index[wrong]] = True
                keep = ~wrong
                index, xs, ys, xa, x_prev, grad = index[keep], xs[keep], ys[keep], xa[keep], x_prev[keep], grad[keep]
                ts = ts[keep] if ts is not None else None
                step, x_best, grad_best, loss_best = step[keep], x_best[keep], grad_best[keep], loss_best[keep]
                loss, loss_prev, loss_best_at_check = loss[keep], loss_prev[keep], loss_best_at_check[keep]
                increases, reduced_at_check = increases[keep], reduced_at_check[keep]
            if len(index) == 0 or i == steps:
                break
            if i > 0:
                increases += (loss > loss_prev).float()
                better = loss > loss_best
                x_best[better], grad_best[better], loss_best[better] = xa[better], grad[better], loss[better]
                loss_prev = loss
                since_check += 1
                if since_check == period:
                    # Halve the step where fewer than 75% of the steps since the last checkpoint raised the loss,
                    # or where the best loss did not move and the step was not just halved; restart from the best.
                    stalled = increases < 0.75 * period
                    stalled |= ~reduced_at_check & (loss_best <= loss_best_at_check)
                    step[stalled] /= 2
                    xa[stalled], grad[stalled] = x_best[stalled], grad_best[stalled]
                    x_prev[stalled] = x_best[stalled]  # no momentum across a restart
                    reduced_at_check, loss_best_at_check = stalled, loss_best.clone()
                    increases.zero_()
                    since_check, period = 0, max(period - shrink, shortest)
            # z = P(x + η·direction); x_next = P(x + α(z − x) + (1 − α)(x − x_prev)), α = 1 on the first step.
            alpha = 1.0 if i == 0 else 0.75
            z = _into_ball(xs, xa + _view(step, xa) * _direction(grad, norm), eps, norm, low, high)
            x_next = _into_ball(xs, xa + alpha * (z - xa) + (1 - alpha) * (xa - x_prev), eps, norm, low, high)
            x_prev, xa = xa, x_next
        if check is not None and i % CHECK_EVERY == CHECK_EVERY - 1:
            check()
        logits, loss, grad = _logits_and_grad(model, xa, loss_for(ys, ts))
    return result, found


# ------------------------------------------------------------------------------------------------------------ FAB


def _hyperplane_step(
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
    result, found = x.clone(), torch.zeros(len(x), dtype=torch.bool, device=x.device)
    index = torch.arange(len(x), device=x.device)
    xs, ys, ts, xa = x, y, target, x.clone()
    classify = predict or model

    def boundary_loss(ys: torch.Tensor, ts: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda logits: logits.gather(1, ts[:, None])[:, 0] - logits.gather(1, ys[:, None])[:, 0]

    def take(fooled: torch.Tensor) -> torch.Tensor:
        """Record the iterates that fool the model inside the ball, drop their samples; the mask of those kept."""
        nonlocal index, xs, ys, ts, xa
        keep = ~(fooled & (_norm(xa - xs, norm) <= eps))
        if not keep.all():
            done = ~keep
            result[index[done]], found[index[done]] = xa[done], True
            index, xs, ys, ts, xa = index[keep], xs[keep], ys[keep], ts[keep], xa[keep]
        return keep

    for i in range(steps):
        logits, g, w = _logits_and_grad(model, xa, boundary_loss(ys, ts))
        with torch.no_grad():
            # These logits classify the iterate too (x itself on the first pass, a pulled-back point later).
            keep = take(logits.argmax(1) != ys)
            g, w = g[keep], w[keep]
            if len(index) == 0:
                break
            shape = xs.shape
            wf, xf, af = w.flatten(1), xs.flatten(1), xa.flatten(1)
            # Linearised boundary at the iterate: w·(u − x_a) + g = 0.
            d_iter = _hyperplane_step(wf, -g, af, low, high, norm)
            d_orig = _hyperplane_step(wf, -g - (wf * (xf - af)).sum(1), xf, low, high, norm)
            n_iter, n_orig = _norm(d_iter, norm), _norm(d_orig, norm)
            alpha = (n_iter / (n_iter + n_orig).clamp_min(1e-12)).clamp(0.0, alpha_max)[:, None]
            moved = (1 - alpha) * (af + overshoot * d_iter) + alpha * (xf + overshoot * d_orig)
            xa = moved.clamp(low, high).view(shape)
            fooled = classify(xa).argmax(1) != ys
            fooled = fooled[take(fooled)]
            if len(index) == 0:
                break
            # Fooled, but outside the ball: step back towards x; the next linearisation happens there.
            xa[fooled] = xs[fooled] + backtrack * (xa[fooled] - xs[fooled])
        if check is not None and i % CHECK_EVERY == CHECK_EVERY - 1:
            check()
    return result, found


# --------------------------------------------------------------------------------------------------------- Square


def _square_fraction(p_init: float, i: int, queries: int) -> float:
    """The paper's schedule for the fraction of pixels changed per step, written for 10 000 iterations."""
    it = int(i / max(queries, 1) * 10_000)
    for bound, divisor in ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64), (6000, 128)):
        if it <= bound:
            return p_init / divisor
    return p_init / (256 if it <= 8000 else 512)


def _as_image(x: torch.Tensor) -> torch.Tensor:
    """(n, C, H, W) view of the batch: images as they are, anything else as one row of pixels."""
    if x.dim() == 4:
        return x
    if x.dim() == 3:
        return x.unsqueeze(1)
    return x.reshape(len(x), 1, 1, -1)


def _window(n: int, height: int, width: int, size: tuple[int, int], gen: torch.Generator, device) -> torch.Tensor:
    """(n, 1, H, W) masks of one size-(h, w) rectangle per sample at a random position."""
    import torch

    sh, sw = size
    top = (torch.rand(n, generator=gen, device=device) * (height - sh + 1)).long()[:, None]
    left = (torch.rand(n, generator=gen, device=device) * (width - sw + 1)).long()[:, None]
    rows, cols = torch.arange(height, device=device)[None], torch.arange(width, device=device)[None]
    row_in, col_in = (rows >= top) & (rows < top + sh), (cols >= left) & (cols < left + sw)
    return (row_in[:, :, None] & col_in[:, None, :])[:, None]


def _window_size(p: float, height: int, width: int) -> tuple[int, int]:
    """A square of about p·H·W pixels (a strip of about p·W on one-row inputs), at least one pixel."""
    if height == 1:
        return 1, max(1, min(width, round(p * width)))
    side = max(1, min(height, width, round(math.sqrt(p * height * width))))
    return side, side


def _bump(mask: torch.Tensor) -> torch.Tensor:
    """Unnormalised pseudo-Gaussian on each sample's window: Σ_{k≥d} 1/(k+1)², d the ring (Chebyshev) index."""
    import torch

    n, _, height, width = mask.shape
    rows = torch.arange(height, device=mask.device, dtype=torch.float32)
    cols = torch.arange(width, device=mask.device, dtype=torch.float32)
    m = mask[:, 0].float()
    count_r, count_c = m.amax(2).sum(1), m.amax(1).sum(1)
    centre_r = (m.amax(2) * rows).sum(1) / count_r.clamp_min(1)
    centre_c = (m.amax(1) * cols).sum(1) / count_c.clamp_min(1)
    ring = torch.maximum(
        (rows[None, :, None] - centre_r[:, None, None]).abs(), (cols[None, None, :] - centre_c[:, None, None]).abs()
    ).floor()
    rings = int(max(height, width))
    weights = 1.0 / (torch.arange(rings + 1, device=mask.device, dtype=torch.float32) + 1) ** 2
    tail = weights.flip(0).cumsum(0).flip(0)  # tail[k] = Σ_{j≥k} 1/(j+1)²
    return (tail[ring.long().clamp(max=rings)] * m)[:, None]


def square(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "inf",
    queries: int = 5000,
    p_init: float = 0.8,
    clip: tuple[float, float] = (0.0, 1.0),
    generator: torch.Generator | None = None,
    check: Callable[[], None] | None = None,
    predict: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Square attack on one batch: random square updates kept when they lower the margin z_y − max_{j≠y} z_j.

    L∞: start from vertical stripes of ±ε, then set a random square to ±ε (one sign per channel). L2: start from
    ±stripes scaled to norm ε, then move the mass of one random square into a pseudo-Gaussian bump on another,
    keeping the total norm at ε. Uses only logits, `queries` model calls per sample at most, through `predict`
    when given (a gradient-free forward of the same model). Returns (candidates, found).
    """
    import torch

    low, high = clip
    gen = generator or torch.Generator(device=x.device).manual_seed(0)
    shape = x.shape[1:]
    x = x.detach()
    result, found = x.clone(), torch.zeros(len(x), dtype=torch.bool, device=x.device)
    index = torch.arange(len(x), device=x.device)
    xs, ys = _as_image(x), y
    n, channels, height, width = xs.shape

    forward = predict or model

    def query(images: torch.Tensor) -> torch.Tensor:
        return forward(images.reshape(len(images), *shape))

    signs = torch.randint(0, 2, (n, channels, 1, width), generator=gen, device=x.device).to(x.dtype) * 2 - 1
    scale = eps / math.sqrt(channels * height * width) if norm == "2" else eps  # L2: the stripes' norm is ε
    stripes = signs.expand(n, channels, height, width) * scale
    xa = (xs + stripes).clamp(low, high)
    with torch.no_grad():
        logits = query(xa)
        margin = _margin(logits, ys)
        wrong = logits.argmax(1) != ys
        for i in range(1, queries + 1):
            if wrong.any():
                result[index[wrong]] = xa[wrong].reshape(-1, *shape)
                found[index[wrong]] = True
                keep = ~wrong
                index, xs, ys, xa, margin = index[keep], xs[keep], ys[keep], xa[keep], margin[keep]
            if len(index) == 0 or i == queries:
                break
            if check is not None and i % CHECK_EVERY == 0:
                check()
            size = _window_size(_square_fraction(p_init, i, queries), height, width)
            mask = _window(len(xs), height, width, size, gen, x.device)
            sign = torch.randint(0, 2, (len(xs), channels, 1, 1), generator=gen, device=x.device).to(x.dtype) * 2 - 1
            if norm == "inf":
                candidate = torch.where(mask, (xs + eps * sign).clamp(low, high), xa)
                # Redrawing the square's current content wastes a query: flip its signs instead.
                same = (candidate == xa).flatten(1).all(1)
                if same.any():
                    flipped = torch.where(mask, (xs - eps * sign).clamp(low, high), xa)
                    candidate = torch.where(_view(same, candidate), flipped, candidate)
            else:
                source = _window(len(xs), height, width, size, gen, x.device)
                delta = torch.where(source & ~mask, torch.zeros_like(xa), xa - xs)  # mass of the source freed
                bump = _bump(mask) * sign
                # Largest λ ≥ 0 with ‖δ + λ·bump‖ = ε: the freed budget goes into the new square.
                dot = (delta * bump).flatten(1).sum(1)
                bb = (bump * bump).flatten(1).sum(1).clamp_min(1e-12)
                spare = (eps**2 - (delta * delta).flatten(1).sum(1)).clamp_min(0)
                lam = (-dot + (dot**2 + bb * spare).sqrt()) / bb
                candidate = _into_ball(xs, xs + delta + _view(lam, bump) * bump, eps, "2", low, high)
            logits = query(candidate)
            new_margin = _margin(logits, ys)
            better = new_margin < margin
            xa = torch.where(_view(better, xa), candidate, xa)
            margin = torch.where(better, new_margin, margin)
            wrong = better & (logits.argmax(1) != ys)
    return result, found


# -------------------------------------------------------------------------------------------------------- cascade


def _verify(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, candidate: torch.Tensor, eps: float, norm: str, clip
) -> tuple[torch.Tensor, torch.Tensor]:
    """(point, fooled): the candidate projected into the ε-ball and the input range, predicted again."""
    import torch

    with torch.no_grad():
        point = _into_ball(x, candidate, eps, norm, *clip)
        fooled = (model(point).argmax(1) != y) & (_norm(point - x, norm) <= eps * (1 + 1e-5) + 1e-7)
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

    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")
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
    runner_ups = _runner_up_classes(clean_logits, y, count) if len(x) else torch.zeros((0, count), dtype=torch.long)

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
            else:
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
                    elif stage == "fab-t":
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
                    else:  # Square is untargeted: one run covers every class
                        adv, hit = square(
                            model,
                            xb[left],
                            yb[left],
                            eps=eps,
                            norm=norm,
                            queries=square_queries,
                            clip=clip,
                            generator=gen,
                            check=check,
                            predict=fast,
                        )
                    candidates[left[hit]], found[left[hit]] = adv[hit], True
                    if stage == "square":
                        break
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
