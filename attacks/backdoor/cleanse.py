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
that compute bfloat16 natively (Intel AMX, AVX-512 BF16) and on GPUs that support it the network runs in
bfloat16 by default (precision "auto": attacks.environment.resolve_precision); the
triggers, the loss and Adam stay in float32 (benchmarks/README.md has the measurements).

Cost schedule (the paper's released code): the mask's weight starts at 0 until a class's trigger works
(success ≥ SUCCESS_TARGET for PATIENCE checks in a row, one check every CHECK_EVERY steps), then is set to the
initial `cost` and multiplied by COST_UP after PATIENCE working checks in a row, divided by COST_DOWN after
PATIENCE failing ones. Each class keeps the smallest mask that worked at a check. Every class has its own
schedule, so batching still gives each class exactly what a separate run would. `restarts` optimises each class
from that many starting points (the first the mostly transparent mask, the others random) and keeps the
smallest working mask. The defaults are the fixed cost (DEFAULT_COST) and one start: on the trojan suite
(benchmarks/README.md, 300 steps, the anomaly rule below) they found all 12 live targets and flagged none of the
5 clean models, where the adaptive schedule with 2 restarts flagged a clean 28×28 model (its clean classes'
triggers shrink to a tight cluster, so one somewhat smaller class stands out).

Anomaly index (the paper's median-absolute-deviation rule, on log norms, with a relative-size floor): with L the
mask L1 norms and l = ln L, MAD = 1.4826 · median(|l − median(l)|); index_k = |l_k − median(l)| / MAD; class k
is flagged when index_k > 2 (the paper's threshold), L_k < RELATIVE_FLOOR · median(L) (only a clearly smaller
trigger indicates a backdoor), its reversed trigger works on held-out inputs (TRIGGER_SUCCESS_FLOOR) and its
small trigger is not a natural shortcut (`natural_success_rates`, held to a stricter limit for every class but
the one with the smallest trigger): a class whose own average image, painted under the reversed mask, already
sends inputs there is easy by nature (a thin stroke is all it takes), not backdoored. These two checks removed
the suite's co-flags (a clean class flagged beside the real target). Why log norms and the floor: over only ten
classes the MAD of raw norms breaks both ways. Where clean classes' triggers spread widely (28×28 shapes: 35–83
px) a 10 px target scored 1.97 and was missed; where they cluster tightly (8×8 digits: 8.6–11.7 px) a clean
class 23 % below the median scored 3.07 and was flagged. Ratios are what a backdoor changes (a target's trigger
is a fraction of the others'), and the floor keeps a tight cluster's small spread from turning a near-median
class into an outlier (benchmarks/README.md has the suite's measurements of both rules).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from attacks.context import RunContext
from attacks.environment import PRECISIONS, resolve_precision
from attacks.memory import fit_batch

if TYPE_CHECKING:
    from torch import nn

MAD_CONSISTENCY = 1.4826
ANOMALY_THRESHOLD = 2.0
# A flagged class's trigger must also be smaller than this share of the median trigger (see the docstring).
RELATIVE_FLOOR = 0.75
# A class whose reversed mask, filled with the class's own average clean image, sends this share of the
# other classes' inputs there is a natural shortcut, not a backdoor.
NATURAL_SHORTCUT_SUCCESS = 0.5
# The stricter share for every class but the one with the smallest trigger: a second small trigger claims a second
# backdoor and must be more clearly a pattern of its own. On the trojan suite a second target scored 0.00 and a clean
# class co-flagged beside a target 0.27; a lone target can score 0.32 (the screening test's) (benchmarks/README.md).
SECOND_CLASS_NATURAL_SUCCESS = 0.1
# A reversed trigger must send at least this share of held-out inputs of other classes to its class: a mask that
# is small because it does not work is no trigger. Planted targets: 0.92 and above; a co-flagged 28×28 class: 0.57.
TRIGGER_SUCCESS_FLOOR = 0.75
RULE = (
    f"index_k = |ln L_k - median(ln L)| / ({MAD_CONSISTENCY} * median(|ln L - median(ln L)|)) over the mask L1 "
    f"norms L; class k is flagged when index_k > {ANOMALY_THRESHOLD:g}, L_k < {RELATIVE_FLOOR:g} * median(L), "
    f"class k's reversed trigger sends at least {TRIGGER_SUCCESS_FLOOR:g} of held-out inputs to k and class k is "
    f"not a natural shortcut (its average image under the mask sends under {NATURAL_SHORTCUT_SUCCESS:g} there, "
    f"under {SECOND_CLASS_NATURAL_SUCCESS:g} for a class whose trigger is not the smallest)"
)
DEFAULT_STEPS = 600
DEFAULT_BATCH = 16
DEFAULT_LR = 0.1
# Weight of the mask's L1 norm (in pixels) against the cross-entropy toward the target class: the fixed
# weight with cost schedule "fixed", the weight the adaptive schedule starts from once a trigger works.
DEFAULT_COST = 0.1
DEFAULT_INITIAL_COST = 1e-3
COST_SCHEDULES = ("adaptive", "fixed")
DEFAULT_COST_SCHEDULE = "fixed"
DEFAULT_RESTARTS = 1
# The adaptive schedule (Wang et al.'s released code: 0.99 success, patience 5, ×1.5 up, ÷1.5^1.5 down).
SUCCESS_TARGET = 0.99
CHECK_EVERY = 10
PATIENCE = 2
COST_UP = 1.5
COST_DOWN = 1.5**1.5
# Images per forward/backward pass when several classes are optimised together (see reverse_triggers),
# by the network's precision: float32 activations outgrow the caches sooner.
PASS_IMAGES = {"float32": 80, "bfloat16": 160}


@dataclass
class ReversedTriggers:
    classes: list[int]
    masks: np.ndarray  # K × 1 × H × W in [0, 1]
    patterns: np.ndarray  # K × C × H × W in the data's value range
    final_loss: np.ndarray  # K: cross-entropy toward the class on the last batch
    precision: str = "float32"  # the network's number format during the optimisation
    images_per_pass: int = 0  # clean images in one forward/backward pass (PASS_IMAGES, or what memory holds)
    state: dict[str, Any] | None = None  # where the optimisation stands, to continue it (`start`)
    costs: np.ndarray | None = None  # K: the mask's weight at the end of the cost schedule
    worked: np.ndarray | None = None  # K: whether the trigger reached SUCCESS_TARGET at a check

    @property
    def norms(self) -> np.ndarray:
        return self.masks.reshape(len(self.classes), -1).sum(axis=1)

    def apply(self, index: int, x: np.ndarray) -> np.ndarray:
        mask = self.masks[index]
        return ((1.0 - mask) * x + mask * self.patterns[index]).astype(np.float32)


def _noop_progress(_done: int, _total: int) -> None:
    return None


def reverse_triggers(
    model: nn.Module,
    x: np.ndarray,
    classes: list[int],
    *,
    steps: int = DEFAULT_STEPS,
    batch_size: int = DEFAULT_BATCH,
    lr: float = DEFAULT_LR,
    cost: float | None = None,
    cost_schedule: str = DEFAULT_COST_SCHEDULE,
    restarts: int = 1,
    seed: int = 0,
    ctx: RunContext | None = None,
    on_step: Any = _noop_progress,
    timings: dict[str, float] | None = None,
    precision: str = "auto",
    start: ReversedTriggers | None = None,
) -> ReversedTriggers:
    """Optimise one mask + pattern per class in `classes`, all together, on clean images `x` (N × C × H × W).

    `cost` is the mask's weight: fixed with `cost_schedule` "fixed" (default DEFAULT_COST), the starting weight of
    the adaptive schedule otherwise (default DEFAULT_INITIAL_COST; see the module's docstring). With `restarts`
    above 1 every class is optimised from that many starting points in the same batch and keeps its smallest
    working mask. `precision` is the network's number format (`resolve_precision`); masks, patterns, the loss and
    the optimiser are float32 in every case. `timings`, when given, receives the seconds spent per phase of a
    step (batch, forward, backward, optimiser) for profiling; the results do not depend on it. `start`
    continues from earlier triggers of the same classes (the screening rounds of `screen`), schedule included."""
    import torch

    from attacks.backdoor.common import device_of
    from attacks.networks import LowPrecision

    if cost_schedule not in COST_SCHEDULES:
        raise ValueError(f"cost schedule must be one of {', '.join(COST_SCHEDULES)}, not {cost_schedule!r}")
    if restarts < 1:
        raise ValueError(f"restarts must be at least 1, not {restarts}")
    adaptive = cost_schedule == "adaptive"
    if cost is None:
        cost = DEFAULT_INITIAL_COST if adaptive else DEFAULT_COST
    device = device_of(model)
    generator = torch.Generator().manual_seed(seed)  # on the CPU: the same draws on every device
    data = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
    low, high = float(data.min()), float(data.max())
    classes = list(classes)
    # Row r·K + i optimises class classes[i] from starting point r: restarts are more rows of the same batch.
    rows_classes = classes * restarts
    count = len(rows_classes)
    channels, height, width = data.shape[1:]
    precision = resolve_precision(precision, device)
    dtype = getattr(torch, precision)
    working = LowPrecision(model, dtype)  # frozen, channels-last, in `dtype`; logits back in float32
    # Start from a mostly transparent mask (sigmoid(-3) ≈ 0.05) and a mid-grey pattern; further restarts from
    # random masks and patterns (drawn from their own generator: restart 0 is the same whatever `restarts` is).
    mask_init = torch.full((count, 1, height, width), -3.0)
    pattern_init = torch.zeros((count, channels, height, width))
    if restarts > 1:
        draws = torch.Generator().manual_seed(seed + 1)
        extra = count - len(classes)
        mask_init[len(classes) :] = -4.0 + 4.0 * torch.rand((extra, 1, height, width), generator=draws)
        pattern_init[len(classes) :] = 2.0 * torch.randn((extra, channels, height, width), generator=draws)
    schedule = {
        "cost": np.full(count, 0.0 if adaptive else cost),
        "started": np.full(count, not adaptive),
        "up": np.zeros(count, int),
        "down": np.zeros(count, int),
        "best_norm": np.full(count, np.inf),
        "best_masks": np.zeros((count, 1, height, width), np.float32),
        "best_patterns": np.zeros((count, channels, height, width), np.float32),
    }
    if start is not None and start.state is not None and restarts == 1:
        mask_init = torch.from_numpy(start.state["mask_param"]).clone()
        pattern_init = torch.from_numpy(start.state["pattern_param"]).clone()
        schedule = {key: np.array(value, copy=True) for key, value in start.state["schedule"].items()}
    elif start is not None:
        mask_init[: len(classes)] = torch.logit(torch.from_numpy(start.masks), eps=1e-6)
        scaled = (torch.from_numpy(start.patterns) - low) / max(high - low, 1e-12)
        pattern_init[: len(classes)] = torch.logit(scaled, eps=1e-6)
    mask_param = mask_init.to(device).requires_grad_(True)
    pattern_param = pattern_init.to(device).requires_grad_(True)
    # The fused kernel updates both tensors in one call instead of a dozen small element-wise ops.
    optimiser = torch.optim.Adam([mask_param, pattern_param], lr=lr, betas=(0.5, 0.9), fused=True)
    targets = torch.tensor(rows_classes, device=device).repeat_interleave(batch_size)
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
    hits = torch.zeros(count, device=device)  # images sent to the class since the last check
    seen = 0
    for step in range(steps):
        if ctx is not None:
            ctx.check_cancel()
        began = clock()
        rows = torch.randint(len(data), (batch_size,), generator=generator)
        batch = data[rows.to(device)][None]
        optimiser.zero_grad(set_to_none=True)
        costs = torch.from_numpy(schedule["cost"]).to(device=device, dtype=torch.float32)
        for first in range(0, count, per_pass):
            last = min(count, first + per_pass)
            mask = torch.sigmoid(mask_param[first:last])
            pattern = low + (high - low) * torch.sigmoid(pattern_param[first:last])
            # (1 − m)·x + m·p for every class k of the pass and image x: one fused kernel.
            triggered = torch.lerp(batch, pattern[:, None], mask[:, None]).reshape(-1, channels, height, width)
            forward_at = clock()
            logits = working(triggered)
            chosen = targets[first * batch_size : last * batch_size]
            part = torch.nn.functional.cross_entropy(logits, chosen, reduction="none")
            part = part.view(last - first, batch_size).mean(1)
            # A sum, not a mean, over classes: class k's parameters get exactly the gradient of its own loss.
            loss = (part + costs[first:last] * mask.sum(dim=(1, 2, 3))).sum()
            backward_at = clock()
            loss.backward()
            ce[first:last] = part.detach()
            hits[first:last] += (logits.detach().argmax(1) == chosen).view(last - first, batch_size).sum(1)
            ended = clock()
            phases["batch"] += forward_at - began
            phases["forward"] += backward_at - forward_at
            phases["backward"] += ended - backward_at
            began = ended
        optimiser.step()
        seen += batch_size
        if (step + 1) % CHECK_EVERY == 0 or step == steps - 1:
            # The success of the masks of the last CHECK_EVERY steps; their latest masks are the candidates.
            with torch.no_grad():
                success = (hits / seen).cpu().numpy()
                norms = torch.sigmoid(mask_param).sum(dim=(1, 2, 3)).cpu().numpy()
                _update_schedule(schedule, success, norms, cost, adaptive, mask_param, pattern_param, low, high)
            hits.zero_()
            seen = 0
        phases["optimiser"] += clock() - began
        if step % report_every == 0 or step == steps - 1:
            on_step(step + 1, steps)
    if timings is not None:
        for name, seconds in phases.items():
            timings[name] = timings.get(name, 0.0) + seconds
    with torch.no_grad():
        masks = torch.sigmoid(mask_param).cpu().numpy()
        patterns = (low + (high - low) * torch.sigmoid(pattern_param)).cpu().numpy()
    final_loss = ce.detach().cpu().numpy()
    state = {
        "mask_param": mask_param.detach().cpu().numpy(),
        "pattern_param": pattern_param.detach().cpu().numpy(),
        "schedule": schedule,
    }
    # Each row's smallest working mask, or its last mask where none worked; then each class's best restart.
    worked = np.isfinite(schedule["best_norm"])
    masks = np.where(worked[:, None, None, None], schedule["best_masks"], masks)
    patterns = np.where(worked[:, None, None, None], schedule["best_patterns"], patterns)
    final_loss = np.where(worked, np.minimum(final_loss, -np.log(SUCCESS_TARGET)), final_loss)
    size = len(classes)
    score = np.where(worked, schedule["best_norm"], np.inf)
    fallback = masks.reshape(count, -1).sum(1) * np.exp2(np.clip(final_loss, 0.0, 10.0))
    pick = [min(range(i, count, size), key=lambda r: (score[r], fallback[r])) for i in range(size)]
    return ReversedTriggers(
        classes,
        masks[pick],
        patterns[pick],
        final_loss[pick].astype(np.float32),
        precision,
        min(per_pass * batch_size, count * batch_size),
        state=state if restarts == 1 else None,
        costs=schedule["cost"][pick].copy(),
        worked=worked[pick].copy(),
    )


def _update_schedule(
    schedule: dict[str, np.ndarray],
    success: np.ndarray,
    norms: np.ndarray,
    cost: float,
    adaptive: bool,
    mask_param: Any,
    pattern_param: Any,
    low: float,
    high: float,
) -> None:
    """One check of the cost schedule for every row (in place): keep the smallest working mask, move the cost."""
    import torch

    working = success >= SUCCESS_TARGET
    better = working & (norms < schedule["best_norm"])
    if better.any():
        rows = torch.from_numpy(np.flatnonzero(better)).to(mask_param.device)
        schedule["best_norm"][better] = norms[better]
        schedule["best_masks"][better] = torch.sigmoid(mask_param[rows]).cpu().numpy()
        schedule["best_patterns"][better] = (low + (high - low) * torch.sigmoid(pattern_param[rows])).cpu().numpy()
    if not adaptive:
        return
    schedule["up"] = np.where(working, schedule["up"] + 1, 0)
    schedule["down"] = np.where(working, 0, schedule["down"] + 1)
    # The cost starts once a trigger has worked PATIENCE checks in a row.
    starting = ~schedule["started"] & (schedule["up"] >= PATIENCE)
    schedule["cost"][starting] = cost
    schedule["started"] |= starting
    schedule["up"][starting] = 0
    raise_ = schedule["started"] & ~starting & (schedule["up"] >= PATIENCE)
    lower = schedule["started"] & (schedule["down"] >= PATIENCE)
    schedule["cost"][raise_] *= COST_UP
    schedule["cost"][lower] /= COST_DOWN
    schedule["up"][raise_] = 0
    schedule["down"][lower] = 0


# Screening (successive halving, after K-Arm's idea of spending the optimisation on the likely targets):
# above SCREEN_ABOVE classes every class gets SCREEN_ROUND_SHARE of the steps, the half with the smallest
# triggers goes on for another round, and so on until SHORTLIST classes remain, which get the rest of the
# steps. A backdoor target's mask shrinks fastest, so it survives the early rounds.
SCREEN_ABOVE = 16
SHORTLIST = 8
SCREEN_ROUND_SHARE = 0.1
SCREEN_CHOICES = ("auto", "all")


def subset(triggers: ReversedTriggers, keep: list[int]) -> ReversedTriggers:
    """The triggers of the classes in `keep`, in that order (with where their optimisation stands)."""
    rows = [triggers.classes.index(k) for k in keep]
    state = None
    if triggers.state is not None:
        state = {
            "mask_param": triggers.state["mask_param"][rows],
            "pattern_param": triggers.state["pattern_param"][rows],
            "schedule": {key: value[rows] for key, value in triggers.state["schedule"].items()},
        }
    return ReversedTriggers(
        keep,
        triggers.masks[rows],
        triggers.patterns[rows],
        triggers.final_loss[rows],
        triggers.precision,
        triggers.images_per_pass,
        state=state,
        costs=None if triggers.costs is None else triggers.costs[rows],
        worked=None if triggers.worked is None else triggers.worked[rows],
    )


def _screening_score(triggers: ReversedTriggers) -> np.ndarray:
    """Smaller is more suspicious: the mask's size, doubled for each nat of cross-entropy the trigger still
    misses its class by (a tiny mask that does not work yet is no evidence)."""
    return triggers.norms * np.exp2(np.clip(triggers.final_loss, 0.0, 10.0))


def screening_rounds(
    classes: int, steps: int, shortlist: int = SHORTLIST, round_share: float = SCREEN_ROUND_SHARE
) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """The screening plan: ([(classes optimised, steps) of each halving round], (classes, steps) of the last
    round). The one schedule that `screen` follows and `planned_class_steps` prices."""
    round_steps = max(1, int(steps * round_share))
    rounds, count, spent = [], classes, 0
    while count > shortlist and spent + round_steps < steps:
        rounds.append((count, round_steps))
        count, spent = max(shortlist, -(-count // 2)), spent + round_steps
    return rounds, (count, steps - spent)


def planned_class_steps(
    classes: int, steps: int, shortlist: int = SHORTLIST, round_share: float = SCREEN_ROUND_SHARE
) -> int:
    """The class-steps (one class optimised for one step) that `screen` will take: its cost, known in advance."""
    rounds, (count, last) = screening_rounds(classes, steps, shortlist, round_share)
    return sum(c * s for c, s in rounds) + count * last


def scan_class_steps(classes: int, steps: int, shortlist: int = SHORTLIST, restarts: int = 1) -> int:
    """The class-steps of a whole scan: the screening's plan, plus the shortlist's last round once more for each
    restart beyond the first (those starts join the last round)."""
    rounds, (count, last) = screening_rounds(classes, steps, shortlist)
    return planned_class_steps(classes, steps, shortlist) + (restarts - 1) * count * last


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
    restarts: int = 1,
    on_step: Any = _noop_progress,
    **options: Any,
) -> tuple[ReversedTriggers, dict[str, Any]]:
    """Neural Cleanse by successive halving: every class's latest trigger (the shortlist's optimised for all
    `steps`, the others for as long as they stayed in) and what the screening did. With a shortlist of every
    class it is one plain optimisation of them all. The halving rounds optimise one start per class; the
    shortlist's last round adds the `restarts` beyond the first (fresh starts for the rest of the steps)."""
    rounds, (last_count, last_steps) = screening_rounds(len(classes), steps, shortlist, round_share)
    # Progress counts class-steps, restarts included.
    total = planned_class_steps(len(classes), steps, shortlist, round_share) + (restarts - 1) * last_count * last_steps
    alive = list(classes)
    latest: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}
    spent, report_rounds, done = 0, [], 0

    def step_progress(count: int) -> Any:
        return lambda finished, _total: on_step(done + finished * count, total)

    state: ReversedTriggers | None = None
    for count, round_steps in rounds:
        state = reverse_triggers(
            model, x, alive, steps=round_steps, start=state, on_step=step_progress(count), **options
        )
        done += round_steps * count
        spent += round_steps
        for row, k in enumerate(alive):
            latest[k] = (state.masks[row], state.patterns[row], float(state.final_loss[row]))
        order = np.argsort(_screening_score(state), kind="stable")
        kept = sorted(alive[i] for i in order[: max(shortlist, -(-count // 2))])
        report_rounds.append({"after_steps": spent, "classes": count, "kept": len(kept)})
        alive = kept
        state = subset(state, alive)
    final = reverse_triggers(
        model,
        x,
        alive,
        steps=last_steps,
        start=state,
        restarts=restarts,
        on_step=step_progress(len(alive) * restarts),
        **options,
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
        "method": "successive halving" if report_rounds else "all classes",
        "shortlist": alive,
        "rounds": report_rounds,
        "class_steps": planned_class_steps(len(classes), steps, shortlist, round_share),  # the plan, carried out
        "class_steps_all": len(classes) * steps,
        "restarts": restarts,
    }
    return triggers, report


def _log_norms(norms: np.ndarray) -> np.ndarray:
    # A mask norm is positive; the floor only guards against log(0).
    return np.log(np.maximum(np.asarray(norms, dtype=np.float64), 1e-6))


def small_side(norms: np.ndarray) -> np.ndarray:
    """Per class: its trigger is on the side a backdoor makes (log norm below the median) and below
    RELATIVE_FLOOR × the median norm. With full optimisation and no natural shortcut, such a class is a
    candidate: flagged exactly when its anomaly index is above ANOMALY_THRESHOLD."""
    logs = _log_norms(norms)
    return (logs < np.median(logs)) & (np.asarray(norms, dtype=np.float64) < RELATIVE_FLOOR * np.median(norms))


def anomaly_indices(norms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(anomaly index per class, flagged per class) by the median absolute deviation rule on log norms (`RULE`,
    before the natural-shortcut check): index above ANOMALY_THRESHOLD on the `small_side`."""
    logs = _log_norms(norms)
    median = np.median(logs)
    mad = MAD_CONSISTENCY * np.median(np.abs(logs - median))
    index = np.abs(logs - median) / max(mad, 1e-12)
    return index, (index > ANOMALY_THRESHOLD) & small_side(norms)


def _natural_shortcuts(norms: np.ndarray, natural: dict[int, float], fully_optimised: np.ndarray) -> np.ndarray:
    """Per class: its natural success rate reaches NATURAL_SHORTCUT_SUCCESS, or SECOND_CLASS_NATURAL_SUCCESS for
    every class but the fully optimised one with the smallest trigger (a second small trigger is held to more)."""
    smallest = int(np.argmin(np.where(fully_optimised, norms, np.inf)))
    limits = np.full(len(norms), SECOND_CLASS_NATURAL_SUCCESS)
    limits[smallest] = NATURAL_SHORTCUT_SUCCESS
    rates = np.array([natural.get(k, float("nan")) for k in range(len(norms))])
    return rates >= limits


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


def natural_success_rates(
    model: nn.Module, triggers: ReversedTriggers, reference: tuple[np.ndarray, np.ndarray], x: np.ndarray, y: np.ndarray
) -> list[float]:
    """For each class k: the fraction of inputs not of class k sent to k when the reversed mask is filled with
    class k's average clean image (from `reference` (x, y)) instead of the reversed pattern. High: the small
    trigger only draws the class's own features (a natural shortcut); a backdoor trigger is a pattern of its
    own, and the class's average pixels under its mask do not work. NaN for a class without reference images."""
    from attacks.backdoor.common import predict_logits

    reference_x, reference_y = reference
    rates = []
    for index, target in enumerate(triggers.classes):
        own, others = reference_x[reference_y == target], x[y != target]
        if len(own) == 0 or len(others) == 0:
            rates.append(float("nan"))
            continue
        mask = triggers.masks[index]
        stamped = ((1.0 - mask) * others + mask * own.mean(axis=0)).astype(np.float32)
        rates.append(float((predict_logits(model, stamped).argmax(1).numpy() == target).mean()))
    return rates


def scan(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    num_classes: int,
    steps: int = DEFAULT_STEPS,
    batch_size: int = DEFAULT_BATCH,
    cost: float | None = None,
    cost_schedule: str = DEFAULT_COST_SCHEDULE,
    restarts: int = DEFAULT_RESTARTS,
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
    class fully (classes × steps); docs/backdoor.md has the measurements.

    A class whose small trigger is a natural shortcut (`natural_success_rates` at least NATURAL_SHORTCUT_SUCCESS,
    or SECOND_CLASS_NATURAL_SUCCESS where another class's trigger is smaller) is reported as such and never
    flagged; nor is one whose reversed trigger sends fewer than TRIGGER_SUCCESS_FLOOR of the held-out inputs to it
    (`weak_trigger`: small because it does not work)."""
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
    options = {
        "batch_size": batch_size,
        "cost": cost,
        "cost_schedule": cost_schedule,
        "seed": seed,
        "ctx": ctx,
        "precision": precision,
    }
    # Without screening the shortlist is every class: one optimisation of all of them for all the steps.
    shortlist = shortlist_size(num_classes, screening)
    triggers, screened = screen(
        model,
        x[fit],
        list(range(num_classes)),
        steps=steps,
        shortlist=shortlist,
        restarts=restarts,
        on_step=on_step,
        **options,
    )
    seconds = time.perf_counter() - began
    norms = triggers.norms
    index, flagged = anomaly_indices(norms)
    optimised = set(screened["shortlist"])
    fully_optimised = np.isin(np.arange(num_classes), list(optimised))
    flagged &= fully_optimised  # only fully optimised triggers can accuse
    # Success rates cost a forward pass of the held-out half per class: the shortlist's (every class unscreened).
    measured = subset(triggers, sorted(optimised))
    rates = dict(zip(measured.classes, success_rates(model, measured, x[held], y[held]), strict=True))
    natural = dict(
        zip(measured.classes, natural_success_rates(model, measured, (x[fit], y[fit]), x[held], y[held]), strict=True)
    )
    shortcut = _natural_shortcuts(norms, natural, fully_optimised)
    weak = np.array([rates.get(k, float("nan")) < TRIGGER_SUCCESS_FLOOR for k in range(num_classes)])
    anomalous = flagged.copy()
    flagged &= ~shortcut & ~weak
    # Every condition of the rule but the threshold: the classes whose index could make them flagged. The app
    # reads its evidence (the largest such index) from these, so it never restates the rule.
    candidate = small_side(norms) & fully_optimised & ~shortcut & ~weak
    per_class = [
        {
            "class": k,
            "mask_l1": round(float(norms[k]), 4),
            "anomaly_index": round(float(index[k]), 4),
            "below_median": bool(norms[k] < np.median(norms)),
            "flagged": bool(flagged[k]),
            "trigger_success_rate": round(rates[k], 4) if k in rates else None,
            "fully_optimised": k in optimised,
            "natural_success_rate": round(natural[k], 4) if k in natural and np.isfinite(natural[k]) else None,
            "natural_shortcut": bool(shortcut[k]),
            "weak_trigger": bool(weak[k]),
            "anomalous": bool(anomalous[k]),
            "candidate": bool(candidate[k]),
        }
        for k in range(num_classes)
    ]
    report = {
        "flagged_classes": [k for k in range(num_classes) if flagged[k]],
        "backdoor_suspected": bool(flagged.any()),
        "anomaly_threshold": ANOMALY_THRESHOLD,
        "relative_floor": RELATIVE_FLOOR,
        "rule": RULE,
        "median_mask_l1": round(float(np.median(norms)), 4),
        "classes": per_class,
        "steps": steps,
        "batch_size": batch_size,
        "cost": cost if cost is not None else (DEFAULT_INITIAL_COST if cost_schedule == "adaptive" else DEFAULT_COST),
        "cost_schedule": cost_schedule,
        "restarts": restarts,
        "natural_shortcut_success": NATURAL_SHORTCUT_SUCCESS,
        "second_class_natural_shortcut_success": SECOND_CLASS_NATURAL_SUCCESS,
        "natural_shortcut_classes": [k for k in range(num_classes) if anomalous[k] and shortcut[k]],
        "trigger_success_floor": TRIGGER_SUCCESS_FLOOR,
        "weak_trigger_classes": [k for k in range(num_classes) if anomalous[k] and weak[k] and not shortcut[k]],
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


def schedule_params(params: dict[str, Any]) -> tuple[str, float | None, int]:
    """(cost_schedule, cost, restarts) of a task's parameters; cost None: the schedule's default."""
    from attacks.params import choice_param, float_param, int_param

    schedule = choice_param(params, "cost_schedule", DEFAULT_COST_SCHEDULE, COST_SCHEDULES)
    cost = float_param(params, "cost", -1.0, 0.0, 100.0) if params.get("cost") is not None else None
    restarts = int_param(params, "restarts", DEFAULT_RESTARTS, 1, 8)
    return schedule, cost, restarts


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    """Engine task "backdoor_scan": Neural Cleanse over every class of a model, on clean data_path samples."""
    from attacks.backdoor.common import load_classifier, load_data, subsample
    from attacks.params import choice_param, int_param

    started = time.perf_counter()
    ctx.progress(1, "Loading the model")
    loaded = load_classifier(params)
    model, arch, num_classes = loaded.model, loaded.arch, loaded.num_classes
    steps = int_param(params, "steps", DEFAULT_STEPS, 1, 100_000)
    batch_size = int_param(params, "batch_size", DEFAULT_BATCH, 1, 4096)
    schedule, cost, restarts = schedule_params(params)
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
        cost_schedule=schedule,
        restarts=restarts,
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
