"""What a job will cost, before it is queued: a timed probe of the model, and the work each task does.

A job's time is dominated by two operations on the model: a forward pass and a forward + input-gradient pass,
per sample. `probe` times both once, where the model is first loaded (the intake); `job_work` counts how many
of each a task does at most, from the same parameters the engine will read. Their product is an upper bound
of the job's time on the device that was probed: attacks stop working on a sample once it is fooled, and
screening stops on classes early, so real runs are often shorter — never longer, up to start-up, data loading
and the machine's other load.

`job_work` imports neither torch nor Django: the web process calls it to show the estimate on the run form.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from attacks.hardening.methods import ADVERSARIAL_METHODS
from attacks.params import choice_param, int_param

if TYPE_CHECKING:
    from torch import nn

PROBE_BATCH = 4
PROBE_MIN_SECONDS = 0.5
PROBE_MAX_BATCH = 256

# Upper bounds per sample of AutoAttack's standard version on a sample that resists every stage: APGD-CE 100
# steps, APGD-T 9 × 100, FAB-T 9 × 100 (counted by benchmarks/autoattack.py: 1,919 gradients and 5,900 queries
# per robust sample), Square 5,000 queries.
AUTOATTACK_GRADIENTS = 1_920
AUTOATTACK_FORWARDS = 5_900
SQUARE_QUERIES = 5_000  # attacks.evasion.autoattack's default, which hardening's robust evaluation keeps
CW_BINARY_STEPS = 5  # attacks.evasion.attacks._cw
DEEPFOOL_CLASS_GRADIENTS = 10  # ART DeepFool's nb_grads: gradients of the 10 likeliest classes per step


# What a training step costs beside its samples' passes, however small the model: zeroing the gradients, the
# optimiser's update of every weight, the Python around them. Measured with one CPU thread on a shared machine
# (2026-12-03): 0.37 ms at batch 8 and 0.48 ms at batch 64 for mlp-digits, whose passes the probe times at
# 0.02 and 0.16 ms; a cnn-digits step at batch 8 takes 2.3 ms beyond its passes. The smallest is the floor.
STEP_SECONDS = 0.0005


@dataclass(frozen=True)
class Work:
    """What a job does at most: sample passes (forward + input gradient, and forward alone), and training steps
    (one batch through the network and back: an optimiser step, or one attack step of adversarial training),
    each of which costs at least STEP_SECONDS on top of its passes. `auto_gradients` are gradient passes taken in
    the engine's precision "auto" (PGD's and Neural Cleanse's: bfloat16 where the device computes it natively,
    attacks.environment.resolve_precision), timed by `probe` as `bfloat16_gradient_s` where that is bfloat16."""

    gradients: float = 0
    forwards: float = 0
    steps: float = 0
    auto_gradients: float = 0

    def __add__(self, other: Work) -> Work:
        return Work(
            self.gradients + other.gradients,
            self.forwards + other.forwards,
            self.steps + other.steps,
            self.auto_gradients + other.auto_gradients,
        )

    def scaled(self, factor: float) -> Work:
        return Work(self.gradients * factor, self.forwards * factor, self.steps * factor, self.auto_gradients * factor)

    def seconds(self, timing: dict[str, Any]) -> float:
        """At most this many seconds on the probed device (`probe`'s per-sample times), and at least
        STEP_SECONDS for each training step, which a tiny model's per-sample times leave out. A timing without
        `bfloat16_gradient_s` (a float32 device, or a model timed before it was measured) counts every gradient
        pass at float32's time."""
        gradient = float(timing["gradient_s"])
        auto = float(timing.get("bfloat16_gradient_s", gradient))
        passes = self.gradients * gradient + self.auto_gradients * auto + self.forwards * float(timing["forward_s"])
        return passes + self.steps * STEP_SECONDS


def probe(model: nn.Module, input_shape: tuple[int, ...], batch: int = PROBE_BATCH) -> dict[str, Any]:
    """Seconds per sample of a forward and of a forward + input gradient, on this process's device and threads;
    where precision "auto" takes gradients in bfloat16 here, also of a forward + input gradient through the
    bfloat16 copy PGD and Neural Cleanse use (`bfloat16_gradient_s`).

    Small models are timed at larger batches (×4 while a gradient round takes under PROBE_MIN_SECONDS, up to
    PROBE_MAX_BATCH): at batch 4 a digits CNN's time is mostly per-call overhead that a job's batches of 128
    spread thin. One untimed round first (kernel selection, allocator warm-up), then the fastest of two."""
    import torch

    from attacks.environment import resolve_precision
    from attacks.networks import LowPrecision

    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()

    def forward(x: torch.Tensor) -> None:
        with torch.inference_mode():
            model(x)

    def gradient_through(network: nn.Module) -> Any:
        def gradient(x: torch.Tensor) -> None:
            inputs = x.clone().requires_grad_(True)
            logits = network(inputs)
            torch.autograd.grad(logits.logsumexp(dim=1).sum(), inputs)

        return gradient

    gradient = gradient_through(model)

    def timed(step: Any, x: torch.Tensor) -> float:
        best = float("inf")
        for round_ in range(3):
            started = time.perf_counter()
            step(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if round_:
                best = min(best, time.perf_counter() - started)
        return best

    try:
        with torch.enable_grad():
            while True:
                x = torch.rand(batch, *input_shape, device=device)
                gradient_round = timed(gradient, x)
                if gradient_round >= PROBE_MIN_SECONDS or batch >= PROBE_MAX_BATCH:
                    break
                batch *= 4
            forward_round = timed(forward, x)
            low_round = None
            if resolve_precision("auto", device.type) == "bfloat16":
                low_round = timed(gradient_through(LowPrecision(model, torch.bfloat16)), x)
    finally:
        model.train(was_training)
    timing = {
        "forward_s": round(forward_round / batch, 7),
        "gradient_s": round(gradient_round / batch, 7),
        "device": device.type,
        "threads": torch.get_num_threads(),
        "batch": batch,
    }
    if low_round is not None:
        timing["bfloat16_gradient_s"] = round(low_round / batch, 7)
    return timing


def _in_precision(params: dict[str, Any], gradients: float, forwards: float = 0) -> Work:
    """Gradient passes of PGD or Neural Cleanse: in the engine's precision, unless the job forces float32."""
    if params.get("precision") == "float32":
        return Work(gradients, forwards)
    return Work(forwards=forwards, auto_gradients=gradients)


def _evasion_per_sample(name: str, params: dict[str, Any], num_classes: int) -> Work:
    steps = int_param(params, "steps", 10, 1, 10_000)
    queries = int_param(params, "max_queries", 1000, 10, 10**7)
    per_attack = {
        "fgsm": Work(1, 2),
        "pgd_linf": _in_precision(params, steps, 2),
        "pgd_l2": _in_precision(params, steps, 2),
        "cw_l2": Work(steps * CW_BINARY_STEPS, CW_BINARY_STEPS + 1),
        "deepfool": Work(max(steps, 50) * min(num_classes, DEEPFOOL_CLASS_GRADIENTS), max(steps, 50)),
        "autoattack": Work(AUTOATTACK_GRADIENTS, AUTOATTACK_FORWARDS),
        "square": Work(0, queries + 1),
        "hopskipjump": Work(0, queries + 1),
    }
    return per_attack.get(name, Work())


def _attacks(params: dict[str, Any]) -> list[str]:
    names = params.get("attacks") or ["pgd_linf"]
    return [str(name) for name in (names if isinstance(names, list) else [names])]


def _grid(params: dict[str, Any]) -> int:
    eps = params.get("eps")
    return len(eps) if isinstance(eps, list) else 1


def _cleanse(params: dict[str, Any], samples: int, num_classes: int) -> Work:
    from attacks.backdoor.cleanse import (
        DEFAULT_BATCH,
        DEFAULT_RESTARTS,
        DEFAULT_STEPS,
        scan_class_steps,
        shortlist_size,
    )

    steps = int_param(params, "steps", DEFAULT_STEPS, 1, 100_000)
    batch = int_param(params, "batch_size", DEFAULT_BATCH, 1, 4096)
    screening = choice_param(params, "screening", "auto", ("auto", "all"))
    restarts = int_param(params, "restarts", DEFAULT_RESTARTS, 1, 8)
    shortlist = shortlist_size(num_classes, screening)
    class_steps = scan_class_steps(num_classes, steps, shortlist, restarts)
    # Each class-step is one batch of triggered images through the network; then the shortlist's triggers are
    # measured on the held-out half of the samples, with their own pattern and with the class's average image.
    return _in_precision(params, class_steps * batch, 2 * shortlist * max(1, samples // 2))


# The privacy tasks train networks. One training sample-pass (forward, backward to the weights, an Adam step) is
# counted as one gradient pass (forward, backward to the input): the same forward and backward through the same
# layers, the estimate's unit; both tasks default to training the tested model's own architecture. Each optimiser
# step also costs its fixed STEP_SECONDS, which dominates for a tiny model: on a digits MLP (one CPU thread) the
# passes alone gave 0.85 s for a LiRA run that took 4.5 s (8 shadows, 80 epochs, 300 resamples) and 0.26 s for an
# extraction that took 2.7 s (3 budgets, 300 steps). Not counted: membership inference's bootstrap (about 4 s
# per 1,000 resamples of 1,800 scores).
MEMBERSHIP_DEFAULTS = {"shadow_models": 16, "epochs": 20, "batch_size": 64}  # attacks.privacy.membership
EXTRACTION_DEFAULTS = {"steps": 500, "batch_size": 64}  # attacks.privacy.extraction


def _membership(params: dict[str, Any], samples: int, members: int | None) -> Work:
    """Online LiRA on `samples` records (members and non-members together): the model answers each once; each
    of K shadows trains `epochs` passes over the records it is given and then answers every record. A shadow is
    given about the members' count (`members`); unknown, the most it can be given, (K - 1) / K of the records."""
    shadows = int_param(params, "shadow_models", MEMBERSHIP_DEFAULTS["shadow_models"], 2, 256)
    epochs = int_param(params, "epochs", MEMBERSHIP_DEFAULTS["epochs"], 1, 10_000)
    batch = int_param(params, "batch_size", MEMBERSHIP_DEFAULTS["batch_size"], 1, 8192)
    if members is not None and 0 < members < samples:
        inside = min(shadows - 1, max(1, round(shadows * members / samples)))
    else:
        inside = shadows - 1
    per_shadow = samples * inside / shadows
    steps = shadows * epochs * math.ceil(per_shadow / batch)
    return Work(gradients=shadows * epochs * per_shadow, forwards=samples + shadows * samples, steps=steps)


def _budgets(params: dict[str, Any]) -> list[int]:
    raw = params.get("budgets")
    values = raw if isinstance(raw, list | tuple) else [raw] if raw not in (None, "") else []
    budgets = []
    for value in values:
        try:
            budgets.append(max(1, int(value)))
        except (TypeError, ValueError):
            continue  # the engine refuses it with a message; nothing to count here
    return sorted(set(budgets))


def _extraction(params: dict[str, Any], samples: int) -> Work:
    """A copy per budget: `steps` optimiser steps of batches of at most `batch_size` of that budget's queries,
    then the copy answers the `samples` evaluation images; the model answers the largest budget's queries and
    the evaluation images once, and a public teacher start is measured once before any training."""
    steps = int_param(params, "steps", EXTRACTION_DEFAULTS["steps"], 1, 1_000_000)
    batch = int_param(params, "batch_size", EXTRACTION_DEFAULTS["batch_size"], 1, 8192)
    budgets = _budgets(params)
    training = sum(steps * min(batch, budget) for budget in budgets)
    teacher = samples if params.get("copy_weights") else 0
    forwards = max(budgets, default=0) + samples + len(budgets) * samples + teacher
    return Work(gradients=training, forwards=forwards, steps=steps * len(budgets))


def job_work(task: str, params: dict[str, Any], *, samples: int, num_classes: int, members: int | None = None) -> Work:
    """Sample passes engine task `task` does at most with `params` on `samples` evaluation samples (after the
    job's sample_limit) of a `num_classes`-class model. Unknown tasks cost nothing here. For membership_inference
    `samples` counts members and non-members together and `members` the members among them (when known); for
    extraction `samples` is the evaluation set and the query budgets come from `params`."""
    if task == "membership_inference":
        return _membership(params, samples, members)
    if task == "extraction":
        return _extraction(params, samples)
    if task == "evasion":
        return sum((_evasion_per_sample(n, params, num_classes) for n in _attacks(params)), Work()).scaled(samples)
    if task == "robustness_curve":
        # The guessed search of attacks.evasion.curve: about 2 PGD runs in all (benchmarks/README.md), at most
        # one per ε value when every guess is wrong.
        return _evasion_per_sample("pgd_linf", params, num_classes).scaled(samples * min(_grid(params), 3))
    if task == "transfer":
        crafted = sum((_evasion_per_sample(n, params, num_classes) for n in _attacks(params)), Work())
        return (crafted + Work(0, 2)).scaled(samples)  # and the student's forwards on clean and crafted inputs
    if task == "backdoor_scan":
        return _cleanse(params, samples, num_classes)
    if task == "lineage":
        return _cleanse(params, samples, num_classes).scaled(2) + Work(0, 2 * samples * num_classes)
    if task == "strip":
        from attacks.backdoor.strip import DEFAULT_OVERLAYS

        overlays = int_param(params, "overlays", DEFAULT_OVERLAYS, 1, 1000)
        suspects = samples if params.get("suspect_path") else 0
        return Work(0, (samples + suspects) * overlays)
    if task in ("validate", "data_scan"):
        return Work(0, samples)
    if task == "hardening":
        return _hardening(params, samples, num_classes)
    return Work()


HARDENING_DEFAULTS = {  # attacks.hardening
    "epochs": 5,
    "batch_size": 64,
    "attack_steps": 10,
    "robust_evaluation": "apgd",
    "eval_steps": 100,
    "robust_limit": 500,
}
ROBUST_EVALUATIONS = ("apgd", "autoattack")  # attacks.hardening.measure.ROBUST_EVALUATIONS, without its numpy


def _robust_evaluation(params: dict[str, Any], samples: int, num_classes: int) -> Work:
    """One robust evaluation of a hardening run on its robust subset, every sample resisting every stage: APGD-CE
    and APGD-T (a run per target) of eval_steps; with robust_evaluation "autoattack" also FAB-T (a gradient and a
    forward per step and target) and Square's queries."""
    robust = min(samples, int_param(params, "robust_limit", HARDENING_DEFAULTS["robust_limit"], 1, 10**9))
    steps = int_param(params, "eval_steps", HARDENING_DEFAULTS["eval_steps"], 1, 10_000)
    targets = max(1, min(9, num_classes - 1))  # attacks.evasion.autoattack's targets, capped by the classes
    per_sample = Work((1 + targets) * steps, 0)
    evaluation = choice_param(params, "robust_evaluation", HARDENING_DEFAULTS["robust_evaluation"], ROBUST_EVALUATIONS)
    if evaluation == "autoattack":
        per_sample += Work(targets * steps, targets * steps + SQUARE_QUERIES)
    return per_sample.scaled(robust)


def _hardening(params: dict[str, Any], samples: int, num_classes: int) -> Work:
    """Hardening (attacks.hardening): every epoch one forward + backward pass per training sample for the clean
    methods, attack_steps + 1 (PGD) or + 2 (TRADES) for the adversarial ones, in batches of batch_size (each
    pass over a batch a training step); before and after, forwards on the samples and, for the adversarial
    methods, the robust evaluation."""
    method = params.get("method")
    epochs = int_param(params, "epochs", HARDENING_DEFAULTS["epochs"], 1, 1000)
    batch = int_param(params, "batch_size", HARDENING_DEFAULTS["batch_size"], 1, 4096)
    steps = int_param(params, "attack_steps", HARDENING_DEFAULTS["attack_steps"], 1, 1000)
    passes = {"adversarial": steps + 1, "trades": steps + 2}.get(method, 1)
    work = Work(epochs * passes * samples, 2 * samples, epochs * passes * math.ceil(samples / batch))
    if method in ADVERSARIAL_METHODS:
        work += _robust_evaluation(params, samples, num_classes).scaled(2)
    return work
