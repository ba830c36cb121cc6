"""Square, the cascade's last stage: the score-based random-search attack (Andriushchenko et al., ECCV 2020).

5000 queries per sample, margin loss, no gradients.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from attacks.evasion import lp
from attacks.evasion.active import ActiveSamples
from attacks.evasion.autoattack import passes

if TYPE_CHECKING:
    import torch
    from torch import nn


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """z_y − max_{j≠y} z_j: negative exactly when the sample is misclassified."""
    z_y = logits.gather(1, y[:, None])[:, 0]
    others = logits.scatter(1, y[:, None], float("-inf"))
    return z_y - others.amax(1)


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
    active = ActiveSamples(x)
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
        margin = margin_loss(logits, ys)
        wrong = logits.argmax(1) != ys
        for i in range(1, queries + 1):
            xs, ys, xa, margin = active.drop(wrong, xa.reshape(len(xa), *shape), xs, ys, xa, margin)
            if len(active) == 0 or i == queries:
                break
            if check is not None and i % passes.CHECK_EVERY == 0:
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
                    candidate = torch.where(lp.per_sample(same, candidate), flipped, candidate)
            else:
                source = _window(len(xs), height, width, size, gen, x.device)
                delta = torch.where(source & ~mask, torch.zeros_like(xa), xa - xs)  # mass of the source freed
                bump = _bump(mask) * sign
                # Largest λ ≥ 0 with ‖δ + λ·bump‖ = ε: the freed budget goes into the new square.
                dot = (delta * bump).flatten(1).sum(1)
                bb = (bump * bump).flatten(1).sum(1).clamp_min(1e-12)
                spare = (eps**2 - (delta * delta).flatten(1).sum(1)).clamp_min(0)
                lam = (-dot + (dot**2 + bb * spare).sqrt()) / bb
                candidate = lp.project_point(xs, xs + delta + lp.per_sample(lam, bump) * bump, eps, "2", clip)
            logits = query(candidate)
            new_margin = margin_loss(logits, ys)
            better = new_margin < margin
            xa = torch.where(lp.per_sample(better, xa), candidate, xa)
            margin = torch.where(better, new_margin, margin)
            wrong = better & (logits.argmax(1) != ys)
    return active.result, active.found
