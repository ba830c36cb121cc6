"""Neural Cleanse (Wang et al., S&P 2019) in plain PyTorch, every candidate class optimised in one batch.

For each class k we look for the smallest mask m_k (H×W in [0, 1]) and pattern p_k (C×H×W) such that
(1 − m_k)·x + m_k·p_k is classified as k for clean x. A backdoor target needs a far smaller mask than
the other classes. ART's NeuralCleanse only supports Keras, hence this implementation.

Batching: the K masks and patterns are one parameter tensor each; every step draws one clean batch of
B images, stamps it with each class's trigger and runs the K·B images through the network in passes of
about PASS_IMAGES, with one Adam step on all classes afterwards. The loss is the sum of the per-class
losses, so each class's gradient is exactly what a separate run would get (the tests check this). The
network runs on a frozen channels-last copy: no parameter gradients, oneDNN's native layout.

Cost: a step is dominated by the convolutions' forward and input-gradient passes, which grow with the
number of images. A one-class step (B images) is too small to keep the CPU's matrix units busy and pays
the per-operation overhead K times; the batched step amortises it and runs large convolutions. On CPUs
with bfloat16 matrix units (Intel AMX) the network runs in bfloat16 by default (precision "auto"); the
triggers, the loss and Adam stay in float32 (benchmarks/README.md has the measurements).

Anomaly index (the paper's rule): with L the mask L1 norms, MAD = 1.4826 · median(|L − median(L)|);
index_k = |L_k − median(L)| / MAD; class k is flagged when index_k > 2 and L_k is below the median
(only unusually small triggers indicate a backdoor).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from attacks.context import RunContext
from attacks.memory import fit_batch

if TYPE_CHECKING:
    from torch import nn

MAD_CONSISTENCY = 1.4826
ANOMALY_THRESHOLD = 2.0
DEFAULT_STEPS = 600
DEFAULT_BATCH = 16
DEFAULT_LR = 0.1
# Weight of the mask's L1 norm (in pixels) against the cross-entropy toward the target class.
DEFAULT_COST = 0.1
# Images per forward/backward pass when several classes are optimised together (see reverse_triggers),
# by the network's precision: float32 activations outgrow the caches sooner.
PASS_IMAGES = {"float32": 80, "bfloat16": 160}
PRECISIONS = ("auto", "float32", "bfloat16")


@dataclass
class ReversedTriggers:
    classes: list[int]
    masks: np.ndarray  # K × 1 × H × W in [0, 1]
    patterns: np.ndarray  # K × C × H × W in the data's value range
    final_loss: np.ndarray  # K: cross-entropy toward the class on the last batch
    precision: str = "float32"  # the network's number format during the optimisation
    images_per_pass: int = 0  # clean images in one forward/backward pass (PASS_IMAGES, or what memory holds)

    @property
    def norms(self) -> np.ndarray:
        return self.masks.reshape(len(self.classes), -1).sum(axis=1)

    def apply(self, index: int, x: np.ndarray) -> np.ndarray:
        mask = self.masks[index]
        return ((1.0 - mask) * x + mask * self.patterns[index]).astype(np.float32)


def _noop_progress(_done: int, _total: int) -> None:
    return None


def resolve_precision(precision: str, device: Any = "cpu") -> str:
    """The network's number format for `precision` ("auto", "float32" or "bfloat16").

    "auto" is bfloat16 where the CPU multiplies bfloat16 matrices natively (Intel AMX: about 4× its float32
    throughput on one core), float32 elsewhere, where bfloat16 would be emulated and slower. On a GPU
    (`device` "cuda") it is bfloat16 where the GPU supports it: the verdicts match float32's
    (tests/attacks/backdoor/test_cleanse.py holds them to it wherever bfloat16 runs)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision != "auto":
        return precision
    if str(device).startswith("cuda"):
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    from attacks.environment import bfloat16_matrix_units

    return "bfloat16" if bfloat16_matrix_units() else "float32"


def _working_copy(model: nn.Module, dtype: Any) -> nn.Module:
    """A frozen channels-last copy of `model` in `dtype` for the optimisation; the caller's model is untouched.

    Only the triggers are optimised, so parameter gradients (a third of a step's convolution work) are
    skipped whatever the caller set. Channels-last lets oneDNN run convolutions and max-pooling in its
    native layout: NCHW max-pooling on CPU alone costs about as much as the 3×3 convolution before it.
    """
    import copy

    import torch

    working = copy.deepcopy(model)
    working.requires_grad_(False)
    for module in working.modules():
        if isinstance(module, torch.nn.MaxPool2d | torch.nn.AvgPool2d):
            module.register_forward_hook(_channels_last_gradient)
    return working.to(dtype=dtype, memory_format=torch.channels_last)


def _channels_last_gradient(_module: Any, _inputs: Any, output: Any) -> None:
    """Hand a pooling layer's backward its gradient in channels-last, the layout of its input.

    The gradient arrives from a flatten in NCHW order, and a pooling backward with mixed layouts is slow:
    for 160 digits' 64×8×8 activations 1.3–3.1 ms against 0.4–0.7 ms, plus 0.1 ms for this conversion."""
    import torch

    if isinstance(output, torch.Tensor) and output.requires_grad and output.dim() == 4:
        output.register_hook(lambda grad: grad.contiguous(memory_format=torch.channels_last))


def reverse_triggers(
    model: nn.Module,
    x: np.ndarray,
    classes: list[int],
    *,
    steps: int = DEFAULT_STEPS,
    batch_size: int = DEFAULT_BATCH,
    lr: float = DEFAULT_LR,
    cost: float = DEFAULT_COST,
    seed: int = 0,
    ctx: RunContext | None = None,
    on_step: Any = _noop_progress,
    timings: dict[str, float] | None = None,
    precision: str = "auto",
    start: ReversedTriggers | None = None,
) -> ReversedTriggers:
    """Optimise one mask + pattern per class in `classes`, all together, on clean images `x` (N × C × H × W).

    `precision` is the network's number format (`resolve_precision`); masks, patterns, the loss and the
    optimiser are float32 in every case. `timings`, when given, receives the seconds spent per phase of a
    step (batch, forward, backward, optimiser) for profiling; the results do not depend on it. `start`
    continues from earlier triggers of the same classes (the screening rounds of `screen`)."""
    import torch

    from attacks.backdoor.common import device_of

    device = device_of(model)
    generator = torch.Generator().manual_seed(seed)  # on the CPU: the same draws on every device
    data = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
    low, high = float(data.min()), float(data.max())
    count = len(classes)
    channels, height, width = data.shape[1:]
    precision = resolve_precision(precision, device)
    dtype = getattr(torch, precision)
    working = _working_copy(model, dtype)
    if start is None:
        # Start from a mostly transparent mask (sigmoid(-3) ≈ 0.05) and a mid-grey pattern.
        mask_param = torch.full((count, 1, height, width), -3.0, device=device, requires_grad=True)
        pattern_param = torch.zeros((count, channels, height, width), device=device, requires_grad=True)
    else:
        mask_param = torch.logit(torch.from_numpy(start.masks).to(device), eps=1e-6).requires_grad_(True)
        scaled = (torch.from_numpy(start.patterns).to(device) - low) / max(high - low, 1e-12)
        pattern_param = torch.logit(scaled, eps=1e-6).requires_grad_(True)
    # The fused kernel updates both tensors in one call instead of a dozen small element-wise ops.
    optimiser = torch.optim.Adam([mask_param, pattern_param], lr=lr, betas=(0.5, 0.9), fused=True)
    targets = torch.tensor(classes, device=device).repeat_interleave(batch_size)
    # Progress at most every 20 steps (about a second on a small CPU model); cancel is checked every step.
    report_every = min(20, max(1, steps // 50))
    phases = dict.fromkeys(("batch", "forward", "backward", "optimiser"), 0.0)
    clock = time.perf_counter
    # Classes per forward/backward pass: about PASS_IMAGES images. Beyond that, activations and their
    # gradients outgrow the CPU caches and the element-wise ReLU / pooling passes become memory-bound
    # (in float32, one pass of 160 images is slower per image than two of 80); far fewer images per pass
    # pay the per-operation overhead again.
    # And never more than half the free memory holds (attacks.memory): a 224×224 ResNet-50 keeps about
    # 130 MB of activations per image.
    pass_images = fit_batch(PASS_IMAGES[precision], model, (channels, height, width), str(device)).batch_size
    per_pass = max(1, pass_images // batch_size)
    ce = torch.zeros(count, device=device)
    for step in range(steps):
        if ctx is not None:
            ctx.check_cancel()
        began = clock()
        rows = torch.randint(len(data), (batch_size,), generator=generator)
        batch = data[rows.to(device)][None]
        optimiser.zero_grad(set_to_none=True)
        for first in range(0, count, per_pass):
            last = min(count, first + per_pass)
            mask = torch.sigmoid(mask_param[first:last])
            pattern = low + (high - low) * torch.sigmoid(pattern_param[first:last])
            # (1 − m)·x + m·p for every class k of the pass and image x: one fused kernel.
            triggered = torch.lerp(batch, pattern[:, None], mask[:, None]).reshape(-1, channels, height, width)
            forward_at = clock()
            logits = working(triggered.to(dtype=dtype, memory_format=torch.channels_last)).float()
            part = torch.nn.functional.cross_entropy(
                logits, targets[first * batch_size : last * batch_size], reduction="none"
            )
            part = part.view(last - first, batch_size).mean(1)
            # A sum, not a mean, over classes: class k's parameters get exactly the gradient of its own loss.
            loss = (part + cost * mask.sum(dim=(1, 2, 3))).sum()
            backward_at = clock()
            loss.backward()
            ce[first:last] = part.detach()
            ended = clock()
            phases["batch"] += forward_at - began
            phases["forward"] += backward_at - forward_at
            phases["backward"] += ended - backward_at
            began = ended
        optimiser.step()
        phases["optimiser"] += clock() - began
        if step % report_every == 0 or step == steps - 1:
            on_step(step + 1, steps)
    if timings is not None:
        for name, seconds in phases.items():
            timings[name] = timings.get(name, 0.0) + seconds
    with torch.no_grad():
        masks = torch.sigmoid(mask_param).cpu().numpy()
        patterns = (low + (high - low) * torch.sigmoid(pattern_param)).cpu().numpy()
    return ReversedTriggers(
        list(classes),
        masks,
        patterns,
        ce.detach().cpu().numpy(),
        precision,
        min(per_pass * batch_size, len(classes) * batch_size),
    )


# Screening (successive halving, after K-Arm's idea of spending the optimisation on the likely targets):
# above SCREEN_ABOVE classes every class gets SCREEN_ROUND_SHARE of the steps, the half with the smallest
# triggers goes on for another round, and so on until SHORTLIST classes remain, which get the rest of the
# steps. A backdoor target's mask shrinks fastest, so it survives the early rounds.
SCREEN_ABOVE = 16
SHORTLIST = 8
SCREEN_ROUND_SHARE = 0.1
SCREEN_CHOICES = ("auto", "all")


def subset(triggers: ReversedTriggers, keep: list[int]) -> ReversedTriggers:
    """The triggers of the classes in `keep`, in that order."""
    rows = [triggers.classes.index(k) for k in keep]
    return ReversedTriggers(
        keep,
        triggers.masks[rows],
        triggers.patterns[rows],
        triggers.final_loss[rows],
        triggers.precision,
        triggers.images_per_pass,
    )


def _screening_score(triggers: ReversedTriggers) -> np.ndarray:
    """Smaller is more suspicious: the mask's size, doubled for each nat of cross-entropy the trigger still
    misses its class by (a tiny mask that does not work yet is no evidence)."""
    return triggers.norms * np.exp2(np.clip(triggers.final_loss, 0.0, 10.0))


def planned_class_steps(
    classes: int, steps: int, shortlist: int = SHORTLIST, round_share: float = SCREEN_ROUND_SHARE
) -> int:
    """The class-steps (one class optimised for one step) that `screen` will take: its cost, known in advance."""
    round_steps = max(1, int(steps * round_share))
    total, count, spent = 0, classes, 0
    while count > shortlist and spent + round_steps < steps:
        total, count, spent = total + count * round_steps, max(shortlist, -(-count // 2)), spent + round_steps
    return total + count * (steps - spent)


def shortlist_size(classes: int, screening: str = "auto") -> int:
    """How many classes a scan optimises fully: SHORTLIST above SCREEN_ABOVE classes when screening, else all."""
    return SHORTLIST if screening == "auto" and classes > SCREEN_ABOVE else classes


def screen(
    model: nn.Module,
    x: np.ndarray,
    classes: list[int],
    *,
    steps: int = DEFAULT_STEPS,
    shortlist: int = SHORTLIST,
    round_share: float = SCREEN_ROUND_SHARE,
    on_step: Any = _noop_progress,
    **options: Any,
) -> tuple[ReversedTriggers, dict[str, Any]]:
    """Neural Cleanse by successive halving: every class's latest trigger (the shortlist's optimised for all
    `steps`, the others for as long as they stayed in) and what the screening did. With a shortlist of every
    class it is one plain optimisation of them all."""
    round_steps = max(1, int(steps * round_share))

    def keeps(count: int) -> int:  # how many of `count` classes go on to the next round
        return max(shortlist, -(-count // 2))

    def continues(count: int, spent: int) -> bool:
        return count > shortlist and spent + round_steps < steps

    total = planned_class_steps(len(classes), steps, shortlist, round_share)  # for progress
    alive = list(classes)
    latest: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}
    spent, rounds, done = 0, [], 0

    def step_progress(count: int) -> Any:
        return lambda finished, _total: on_step(done + finished * count, total)

    state: ReversedTriggers | None = None
    while continues(len(alive), spent):
        state = reverse_triggers(
            model, x, alive, steps=round_steps, start=state, on_step=step_progress(len(alive)), **options
        )
        done += round_steps * len(alive)
        spent += round_steps
        for row, k in enumerate(alive):
            latest[k] = (state.masks[row], state.patterns[row], float(state.final_loss[row]))
        order = np.argsort(_screening_score(state), kind="stable")
        kept = sorted(alive[i] for i in order[: keeps(len(alive))])
        rounds.append({"after_steps": spent, "classes": len(alive), "kept": len(kept)})
        alive = kept
        state = subset(state, alive)
    final = reverse_triggers(
        model, x, alive, steps=steps - spent, start=state, on_step=step_progress(len(alive)), **options
    )
    for row, k in enumerate(alive):
        latest[k] = (final.masks[row], final.patterns[row], float(final.final_loss[row]))
    ordered = [latest[k] for k in classes]
    triggers = ReversedTriggers(
        list(classes),
        np.stack([m for m, _, _ in ordered]),
        np.stack([p for _, p, _ in ordered]),
        np.array([loss for _, _, loss in ordered], dtype=np.float32),
        final.precision,
        final.images_per_pass,
    )
    report = {
        "method": "successive halving" if rounds else "all classes",
        "shortlist": alive,
        "rounds": rounds,
        "class_steps": total,  # the plan, carried out
        "class_steps_all": len(classes) * steps,
    }
    return triggers, report


def anomaly_indices(norms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(anomaly index per class, flagged per class) by the median absolute deviation rule."""
    norms = np.asarray(norms, dtype=np.float64)
    median = np.median(norms)
    mad = MAD_CONSISTENCY * np.median(np.abs(norms - median))
    index = np.abs(norms - median) / max(mad, 1e-12)
    flagged = (index > ANOMALY_THRESHOLD) & (norms < median)
    return index, flagged


def success_rates(model: nn.Module, triggers: ReversedTriggers, x: np.ndarray, y: np.ndarray) -> list[float]:
    """For each class k: the fraction of inputs not of class k that the reversed trigger sends to k."""
    from attacks.backdoor.common import predict_logits

    rates = []
    for index, target in enumerate(triggers.classes):
        others = x[y != target]
        if len(others) == 0:
            rates.append(float("nan"))
            continue
        predicted = predict_logits(model, triggers.apply(index, others)).argmax(1).numpy()
        rates.append(float((predicted == target).mean()))
    return rates


def scan(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    num_classes: int,
    steps: int = DEFAULT_STEPS,
    batch_size: int = DEFAULT_BATCH,
    cost: float = DEFAULT_COST,
    seed: int = 0,
    precision: str = "auto",
    ctx: RunContext | None = None,
    progress_span: tuple[float, float] = (5.0, 90.0),
    screening: str = "auto",
) -> tuple[dict[str, Any], ReversedTriggers]:
    """Reverse a trigger for every class on half of (x, y), measure them on the other half; flag anomalies.

    With `screening` "auto" and more than SCREEN_ABOVE classes, the classes are screened by successive
    halving (`screen`): the SHORTLIST most suspicious get the full optimisation and only they can be flagged;
    the others keep the trigger they had when they dropped out, an upper bound of their smallest trigger.
    The trade-off: the anomaly index is computed over those partly optimised norms, whose median and spread
    are both larger than a full run's, so a target's index comes out lower (3.0 against 9.4 on the 100-class
    test model, flagged either way) and a target that loses the early rounds is missed. "all" optimises every
    class fully (classes × steps); docs/backdoor.md has the measurements."""
    from attacks.backdoor.common import device_of

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    half = max(1, len(x) // 2)
    fit, held = order[:half], order[half:] if len(x) > 1 else order
    start, end = progress_span

    def on_step(done: int, total: int) -> None:
        if ctx is not None:
            ctx.progress(start + (end - start) * done / total, f"Neural Cleanse step {done}/{total}")

    if screening not in SCREEN_CHOICES:
        raise ValueError(f"screening must be one of {', '.join(SCREEN_CHOICES)}, not {screening!r}")
    began = time.perf_counter()
    options = {"batch_size": batch_size, "cost": cost, "seed": seed, "ctx": ctx, "precision": precision}
    # Without screening the shortlist is every class: one optimisation of all of them for all the steps.
    shortlist = shortlist_size(num_classes, screening)
    triggers, screened = screen(
        model, x[fit], list(range(num_classes)), steps=steps, shortlist=shortlist, on_step=on_step, **options
    )
    seconds = time.perf_counter() - began
    norms = triggers.norms
    index, flagged = anomaly_indices(norms)
    optimised = set(screened["shortlist"])
    flagged &= np.isin(np.arange(num_classes), list(optimised))  # only fully optimised triggers can accuse
    # Success rates cost a forward pass of the held-out half per class: the shortlist's (every class unscreened).
    measured = subset(triggers, sorted(optimised))
    rates = dict(zip(measured.classes, success_rates(model, measured, x[held], y[held]), strict=True))
    per_class = [
        {
            "class": k,
            "mask_l1": round(float(norms[k]), 4),
            "anomaly_index": round(float(index[k]), 4),
            "below_median": bool(norms[k] < np.median(norms)),
            "flagged": bool(flagged[k]),
            "trigger_success_rate": round(rates[k], 4) if k in rates else None,
            "fully_optimised": k in optimised,
        }
        for k in range(num_classes)
    ]
    report = {
        "flagged_classes": [k for k in range(num_classes) if flagged[k]],
        "backdoor_suspected": bool(flagged.any()),
        "anomaly_threshold": ANOMALY_THRESHOLD,
        "median_mask_l1": round(float(np.median(norms)), 4),
        "classes": per_class,
        "steps": steps,
        "batch_size": batch_size,
        "cost": cost,
        "precision": triggers.precision,
        "images_per_pass": triggers.images_per_pass,
        "device": str(device_of(model)),
        "optimisation_seconds": round(seconds, 3),
        "screening": screened,
    }
    return report, triggers


SCHEMA = "riskapp.backdoor-scan/1"
TRIGGER_IMAGE_SCALE = 8


def write_trigger_images(triggers: ReversedTriggers, directory: Any, prefix: str = "trigger") -> list[str]:
    """One PNG per class of the reversed trigger (mask × pattern), enlarged; returns the file names."""
    from pathlib import Path

    from attacks.png import chw_to_image, write_png

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    low, high = float(triggers.patterns.min()), float(triggers.patterns.max())
    for index, target in enumerate(triggers.classes):
        # What the trigger stamps onto an image: pattern where the mask is on, black elsewhere.
        stamped = triggers.masks[index] * (triggers.patterns[index] - low) / max(high - low, 1e-12)
        name = f"{prefix}-class-{target}.png"
        write_png(directory / name, chw_to_image(stamped, TRIGGER_IMAGE_SCALE))
        names.append(name)
    return names


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    """Engine task "backdoor_scan": Neural Cleanse over every class of a model, on clean data_path samples."""
    from attacks.backdoor.common import load_classifier, load_data, subsample
    from attacks.params import choice_param, float_param, int_param

    started = time.perf_counter()
    ctx.progress(1, "Loading the model")
    loaded = load_classifier(params)
    model, arch, num_classes = loaded.model, loaded.arch, loaded.num_classes
    steps = int_param(params, "steps", DEFAULT_STEPS, 1, 100_000)
    batch_size = int_param(params, "batch_size", DEFAULT_BATCH, 1, 4096)
    cost = float_param(params, "cost", DEFAULT_COST, 0.0, 100.0)
    limit = int_param(params, "sample_limit", 1000, 0, 10**9)
    seed = int_param(params, "seed", 0, 0, 2**32 - 1)
    precision = choice_param(params, "precision", "auto", PRECISIONS)
    screening = choice_param(params, "screening", "auto", SCREEN_CHOICES)
    x, y, _ = load_data(params, "data_path", loaded)
    chosen = subsample(len(x), limit, seed)
    ctx.check_cancel()
    report, triggers = scan(
        model,
        x[chosen],
        y[chosen],
        num_classes=num_classes,
        steps=steps,
        batch_size=batch_size,
        cost=cost,
        seed=seed,
        precision=precision,
        ctx=ctx,
        screening=screening,
    )
    ctx.progress(92, "Writing the reversed triggers")
    shortlist = report["screening"]["shortlist"]
    images = write_trigger_images(subset(triggers, shortlist), ctx.output_dir)
    for k, image in zip(shortlist, images, strict=True):
        report["classes"][k]["trigger_image"] = image
    ctx.progress(100, "Done")
    return {
        "schema": SCHEMA,
        "arch": arch,
        "num_classes": num_classes,
        "preprocessing": loaded.preprocessing.as_dict(),
        "samples": int(len(chosen)),
        **report,
        "seconds": round(time.perf_counter() - started, 3),
    }
